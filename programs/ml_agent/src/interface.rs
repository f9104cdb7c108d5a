//! The program's interface described as data: instruction, account, event and type specs.
//!
//! Each instruction, account and event module declares its spec next to its code; dispatch and
//! account checks derive their discriminators from the spec's name, and the host-only IDL
//! generator (`idl.rs`) turns the same specs into `idl/ml_agent.json`. One source of truth.

use crate::sha256_const::discriminator;

/// A field type, in Anchor IDL vocabulary.
#[derive(Clone, Copy, Debug)]
pub enum Ty {
    Bool,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    Pubkey,
    Bytes,
    String,
    Array(&'static Ty, usize),
    Vec(&'static Ty),
    Option(&'static Ty),
    Defined(&'static str),
}

impl Ty {
    /// Size in bytes for fixed-size types (None for variable-size ones).
    pub const fn fixed_size(&self) -> Option<usize> {
        match self {
            Ty::Bool | Ty::U8 | Ty::I8 => Some(1),
            Ty::U16 | Ty::I16 => Some(2),
            Ty::U32 | Ty::I32 => Some(4),
            Ty::U64 | Ty::I64 => Some(8),
            Ty::Pubkey => Some(32),
            Ty::Array(inner, n) => match inner.fixed_size() {
                Some(s) => Some(s * *n),
                None => None,
            },
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub docs: &'static str,
}

/// A PDA seed as the IDL describes it.
#[derive(Clone, Copy, Debug)]
pub enum SeedSpec {
    Const(&'static [u8]),
    /// The address of another account of the same instruction.
    Account(&'static str),
    /// An instruction argument (path), serialized as its bytes.
    Arg(&'static str),
    /// A field of an account of the instruction (path `account.field`), stored in an account
    /// of the named type; Anchor resolvers fetch that account to read it. When the account is
    /// the PDA itself, the seeds document its derivation and clients pass it by hand.
    Field(&'static str, &'static str),
}

#[derive(Clone, Copy, Debug)]
pub struct AccountSpec {
    pub name: &'static str,
    pub writable: bool,
    pub signer: bool,
    pub optional: bool,
    /// Fixed address (system program, sysvars...).
    pub address: Option<&'static str>,
    pub pda: Option<&'static [SeedSpec]>,
    /// Accounts whose stored field of this account's name holds this account's address (Anchor
    /// `relations`, from `has_one`): resolvers read it from the first one.
    pub relations: &'static [&'static str],
    pub docs: &'static str,
}

impl AccountSpec {
    pub const fn new(name: &'static str) -> Self {
        AccountSpec {
            name,
            writable: false,
            signer: false,
            optional: false,
            address: None,
            pda: None,
            relations: &[],
            docs: "",
        }
    }
    pub const fn mutable(mut self) -> Self {
        self.writable = true;
        self
    }
    pub const fn signer(mut self) -> Self {
        self.signer = true;
        self
    }
    pub const fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
    pub const fn address(mut self, address: &'static str) -> Self {
        self.address = Some(address);
        self
    }
    pub const fn pda(mut self, seeds: &'static [SeedSpec]) -> Self {
        self.pda = Some(seeds);
        self
    }
    pub const fn relations(mut self, relations: &'static [&'static str]) -> Self {
        self.relations = relations;
        self
    }
    pub const fn docs(mut self, docs: &'static str) -> Self {
        self.docs = docs;
        self
    }
}

#[derive(Clone, Copy, Debug)]
pub struct InstructionSpec {
    pub name: &'static str,
    pub docs: &'static str,
    pub accounts: &'static [AccountSpec],
    pub args: &'static [Field],
    pub returns: Option<Ty>,
    /// `sha256("global:<name>")[..8]`, computed when the spec constant is built. Stored rather
    /// than recomputed: a const fn called on a runtime reference runs SHA-256 on chain (~7k CU).
    pub discriminator: [u8; 8],
}

impl InstructionSpec {
    pub const fn new(
        name: &'static str,
        docs: &'static str,
        accounts: &'static [AccountSpec],
        args: &'static [Field],
        returns: Option<Ty>,
    ) -> Self {
        InstructionSpec {
            name,
            docs,
            accounts,
            args,
            returns,
            discriminator: discriminator(b"global:", name.as_bytes()),
        }
    }
}

/// What a named struct type is for, which decides its discriminator's namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeKind {
    Account,
    Event,
    Plain,
}

/// A named struct type (account layout, event body or argument type).
#[derive(Clone, Copy, Debug)]
pub struct TypeSpec {
    pub name: &'static str,
    pub docs: &'static str,
    pub fields: &'static [Field],
    pub kind: TypeKind,
    /// `sha256("account:<Name>")[..8]` or `sha256("event:<Name>")[..8]` (zero for plain types),
    /// computed at compile time for the same reason as `InstructionSpec::discriminator`.
    pub discriminator: [u8; 8],
}

impl TypeSpec {
    pub const fn account(name: &'static str, docs: &'static str, fields: &'static [Field]) -> Self {
        TypeSpec {
            name,
            docs,
            fields,
            kind: TypeKind::Account,
            discriminator: discriminator(b"account:", name.as_bytes()),
        }
    }
    pub const fn event(name: &'static str, docs: &'static str, fields: &'static [Field]) -> Self {
        TypeSpec {
            name,
            docs,
            fields,
            kind: TypeKind::Event,
            discriminator: discriminator(b"event:", name.as_bytes()),
        }
    }
    pub const fn plain(name: &'static str, docs: &'static str, fields: &'static [Field]) -> Self {
        TypeSpec {
            name,
            docs,
            fields,
            kind: TypeKind::Plain,
            discriminator: [0; 8],
        }
    }
    /// Byte size when every field is fixed-size (zero-copy accounts must be).
    pub const fn fixed_size(&self) -> Option<usize> {
        let mut total = 0;
        let mut i = 0;
        while i < self.fields.len() {
            match self.fields[i].ty.fixed_size() {
                Some(s) => total += s,
                None => return None,
            }
            i += 1;
        }
        Some(total)
    }
}

/// Shorthand for building `Field` tables.
pub const fn field(name: &'static str, ty: Ty) -> Field {
    Field { name, ty, docs: "" }
}

pub const SYSTEM_PROGRAM: &str = "11111111111111111111111111111111";
