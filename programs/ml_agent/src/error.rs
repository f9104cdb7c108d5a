//! Errors, numbered the way Anchor numbers them so Anchor clients decode them unchanged:
//! framework errors keep Anchor's own codes (100-5000 range), program errors start at 6000.

use pinocchio::error::ProgramError;

macro_rules! errors {
    ($( $(#[$doc:meta])* $name:ident = $code:literal => $msg:literal, )*) => {
        /// Every error the program can return, with its wire code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u32)]
        pub enum MlAgentError {
            $( $(#[$doc])* $name = $code, )*
        }

        impl MlAgentError {
            /// The message clients show; also the IDL `msg`.
            pub const fn msg(self) -> &'static str {
                match self { $( MlAgentError::$name => $msg, )* }
            }

            /// Name as it appears in the IDL (camelCase, like Anchor's generator).
            pub const fn name(self) -> &'static str {
                match self { $( MlAgentError::$name => stringify!($name), )* }
            }

            /// All errors, in code order, for the IDL generator and tests.
            pub const ALL: &'static [MlAgentError] = &[ $( MlAgentError::$name, )* ];
        }
    };
}

errors! {
    // Anchor framework errors (anchor-lang's ErrorCode numbering).
    InstructionMissing = 100 => "8 byte instruction identifier not provided",
    InstructionFallbackNotFound = 101 => "Fallback functions are not supported",
    InstructionDidNotDeserialize = 102 => "The program could not deserialize the given instruction",
    AccountNotEnoughKeys = 3005 => "Not enough account keys given to the instruction",
    ConstraintMut = 2000 => "A mut constraint was violated",
    ConstraintSigner = 2002 => "A signer constraint was violated",
    ConstraintSeeds = 2006 => "A seeds constraint was violated",
    ConstraintAddress = 2012 => "An address constraint was violated",
    AccountDiscriminatorAlreadySet = 3000 => "The account discriminator was already set on this account",
    AccountDiscriminatorNotFound = 3001 => "No 8 byte discriminator was found on the account",
    AccountDiscriminatorMismatch = 3002 => "8 byte discriminator did not match what was expected",
    AccountDidNotDeserialize = 3003 => "Failed to deserialize the account",
    AccountOwnedByWrongProgram = 3007 => "The given account is owned by a different program than expected",
    AccountNotSystemOwned = 3011 => "The given account is not owned by the system program",
    AccountNotInitialized = 3012 => "The program expected this account to be already initialized",
    // Program errors.
    /// Arithmetic overflowed where the program must not wrap.
    ArithmeticOverflow = 6000 => "Arithmetic overflow",
    /// Instruction data has the right discriminator but a bad argument value.
    InvalidArgument = 6001 => "An instruction argument is out of its allowed range",
}

impl From<MlAgentError> for ProgramError {
    fn from(e: MlAgentError) -> Self {
        ProgramError::Custom(e as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_errors_start_at_6000_and_are_unique() {
        let mut codes: [u32; 64] = [0; 64];
        let n = MlAgentError::ALL.len();
        assert!(n <= codes.len());
        for (i, e) in MlAgentError::ALL.iter().enumerate() {
            codes[i] = *e as u32;
        }
        let codes = &mut codes[..n];
        codes.sort_unstable();
        for w in codes.windows(2) {
            assert_ne!(w[0], w[1], "duplicate error code");
        }
        assert!(MlAgentError::ALL
            .iter()
            .filter(|e| (**e as u32) >= 6000)
            .all(|e| !e.msg().is_empty()));
        assert_eq!(MlAgentError::ArithmeticOverflow as u32, 6000);
    }
}
