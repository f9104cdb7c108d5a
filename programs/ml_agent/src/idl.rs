//! Host-only IDL generator: renders the interface specs as an Anchor IDL (spec 0.1.0).
//!
//! `cargo run --bin gen-idl > idl/ml_agent.json` regenerates it; the `idl_is_fresh` test fails
//! when the committed file differs from what the code declares.

use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::error::MlAgentError;
use crate::instructions::registry as reg;
use crate::instructions::INSTRUCTIONS;
use crate::interface::{AccountSpec, Field, InstructionSpec, SeedSpec, Ty, TypeSpec};

/// Every event the program emits.
pub const EVENTS: &[&TypeSpec] = &[
    &crate::instructions::ping::PINGED,
    &reg::create_model::MODEL_CREATED,
    &reg::create_model::VERSION_CREATED,
    &reg::open_page::PAGE_OPENED,
    &reg::write_chunk::CHUNK_WRITTEN,
    &reg::commit_pages::PAGES_COMMITTED,
    &reg::close_page::PAGE_CLOSED,
    &reg::finalize_version::VERSION_FINALIZED,
    &reg::activate_version::VERSION_ACTIVATED,
    &reg::freeze_model::MODEL_FROZEN,
    &reg::propose_authority::AUTHORITY_PROPOSED,
    &reg::accept_authority::AUTHORITY_ACCEPTED,
    &reg::close_version::VERSION_CLOSED,
    &reg::close_model::MODEL_CLOSED,
    &crate::instructions::infer::INFERENCE,
    &crate::instructions::market::pool::POOL_CREATED,
    &crate::instructions::market::pool::LIQUIDITY_CHANGED,
    &crate::instructions::market::pool::SWAPPED,
    &crate::instructions::market::pool::SYNCED,
    &crate::instructions::agent::create::AGENT_CREATED,
    &crate::instructions::agent::step::DECISION,
    &crate::instructions::agent::step::TRADE,
    &crate::instructions::agent::step::MODEL_UNAVAILABLE,
    &crate::instructions::agent::set_models::AGENT_MODELS_SET,
    &crate::instructions::agent::close::AGENT_CLOSED,
    &crate::instructions::job::infer_step::JOB_STEPPED,
    &crate::instructions::agent::history_init::AGENT_HISTORY_CHANGED,
];

/// Extra named types referenced by `Ty::Defined` (argument structs, return types...).
pub const TYPES: &[&TypeSpec] = &[
    &crate::state::model::ArchSummary::SPEC,
    &crate::state::model::VersionParams::SPEC,
    &crate::instructions::infer::INFERENCE_RESULT,
    &crate::state::agent::RiskParams::SPEC,
    &crate::state::agent::DecisionRecord::SPEC,
    &crate::instructions::agent::create::AGENT_SETUP,
    &crate::state::job::InferenceJob::CURSOR_SPEC,
];

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn bytes_json(b: &[u8]) -> String {
    let items: Vec<String> = b.iter().map(|x| x.to_string()).collect();
    format!("[{}]", items.join(", "))
}

fn ty_json(t: &Ty) -> String {
    match t {
        Ty::Bool => esc("bool"),
        Ty::U8 => esc("u8"),
        Ty::U16 => esc("u16"),
        Ty::U32 => esc("u32"),
        Ty::U64 => esc("u64"),
        Ty::I8 => esc("i8"),
        Ty::I16 => esc("i16"),
        Ty::I32 => esc("i32"),
        Ty::I64 => esc("i64"),
        Ty::Pubkey => esc("pubkey"),
        Ty::Bytes => esc("bytes"),
        Ty::String => esc("string"),
        Ty::Array(inner, n) => format!("{{\"array\": [{}, {}]}}", ty_json(inner), n),
        Ty::Vec(inner) => format!("{{\"vec\": {}}}", ty_json(inner)),
        Ty::Option(inner) => format!("{{\"option\": {}}}", ty_json(inner)),
        Ty::Defined(name) => format!("{{\"defined\": {{\"name\": {}}}}}", esc(name)),
    }
}

fn docs_json(indent: &str, docs: &str) -> String {
    if docs.is_empty() {
        String::new()
    } else {
        format!("{indent}\"docs\": [{}],\n", esc(docs))
    }
}

fn fields_json(fields: &[Field], indent: &str) -> String {
    let items: Vec<String> = fields
        .iter()
        .map(|f| {
            let docs = if f.docs.is_empty() {
                String::new()
            } else {
                format!(", \"docs\": [{}]", esc(f.docs))
            };
            format!(
                "{indent}{{\"name\": {}{docs}, \"type\": {}}}",
                esc(f.name),
                ty_json(&f.ty)
            )
        })
        .collect();
    items.join(",\n")
}

fn seed_json(s: &SeedSpec) -> String {
    match s {
        SeedSpec::Const(b) => format!("{{\"kind\": \"const\", \"value\": {}}}", bytes_json(b)),
        SeedSpec::Account(p) => format!("{{\"kind\": \"account\", \"path\": {}}}", esc(p)),
        SeedSpec::Arg(p) => format!("{{\"kind\": \"arg\", \"path\": {}}}", esc(p)),
        SeedSpec::Field(p, account) => format!(
            "{{\"kind\": \"account\", \"path\": {}, \"account\": {}}}",
            esc(p),
            esc(account)
        ),
    }
}

fn account_json(a: &AccountSpec) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.push(format!("\"name\": {}", esc(a.name)));
    if !a.docs.is_empty() {
        parts.push(format!("\"docs\": [{}]", esc(a.docs)));
    }
    if a.writable {
        parts.push("\"writable\": true".into());
    }
    if a.signer {
        parts.push("\"signer\": true".into());
    }
    if a.optional {
        parts.push("\"optional\": true".into());
    }
    if let Some(addr) = a.address {
        parts.push(format!("\"address\": {}", esc(addr)));
    }
    if let Some(seeds) = a.pda {
        let s: Vec<String> = seeds.iter().map(seed_json).collect();
        parts.push(format!("\"pda\": {{\"seeds\": [{}]}}", s.join(", ")));
    }
    if !a.relations.is_empty() {
        let r: Vec<String> = a.relations.iter().map(|r| esc(r)).collect();
        parts.push(format!("\"relations\": [{}]", r.join(", ")));
    }
    format!("        {{{}}}", parts.join(", "))
}

fn instruction_json(ix: &InstructionSpec) -> String {
    let accounts: Vec<String> = ix.accounts.iter().map(account_json).collect();
    let returns = match &ix.returns {
        Some(t) => format!(",\n      \"returns\": {}", ty_json(t)),
        None => String::new(),
    };
    format!(
        "    {{\n      \"name\": {},\n{}      \"discriminator\": {},\n      \"accounts\": [\n{}\n      ],\n      \"args\": [\n{}\n      ]{}\n    }}",
        esc(ix.name),
        docs_json("      ", ix.docs),
        bytes_json(&ix.discriminator),
        accounts.join(",\n"),
        fields_json(ix.args, "        "),
        returns
    )
}

fn type_json(t: &TypeSpec) -> String {
    format!(
        "    {{\n      \"name\": {},\n{}      \"type\": {{\n        \"kind\": \"struct\",\n        \"fields\": [\n{}\n        ]\n      }}\n    }}",
        esc(t.name),
        docs_json("      ", t.docs),
        fields_json(t.fields, "          ")
    )
}

/// The whole IDL as pretty-printed JSON (stable output: the staleness test compares bytes).
pub fn render() -> String {
    let instructions: Vec<String> = INSTRUCTIONS.iter().map(|i| instruction_json(i)).collect();
    let accounts: Vec<String> = crate::state::ACCOUNTS
        .iter()
        .map(|a| {
            format!(
                "    {{\"name\": {}, \"discriminator\": {}}}",
                esc(a.name),
                bytes_json(&a.discriminator)
            )
        })
        .collect();
    let events: Vec<String> = EVENTS
        .iter()
        .map(|e| {
            format!(
                "    {{\"name\": {}, \"discriminator\": {}}}",
                esc(e.name),
                bytes_json(&e.discriminator)
            )
        })
        .collect();
    let errors: Vec<String> = MlAgentError::ALL
        .iter()
        .filter(|e| (**e as u32) >= 6000)
        .map(|e| {
            format!(
                "    {{\"code\": {}, \"name\": {}, \"msg\": {}}}",
                *e as u32,
                esc(e.name()),
                esc(e.msg())
            )
        })
        .collect();
    let types: Vec<String> = crate::state::ACCOUNTS
        .iter()
        .chain(EVENTS.iter())
        .chain(TYPES.iter())
        .map(|t| type_json(t))
        .collect();
    format!(
        "{{\n  \"address\": {},\n  \"metadata\": {{\n    \"name\": \"ml_agent\",\n    \"version\": {},\n    \"spec\": \"0.1.0\",\n    \"description\": {}\n  }},\n  \"instructions\": [\n{}\n  ],\n  \"accounts\": [\n{}\n  ],\n  \"events\": [\n{}\n  ],\n  \"errors\": [\n{}\n  ],\n  \"types\": [\n{}\n  ]\n}}\n",
        esc(crate::PROGRAM_ID),
        esc(env!("CARGO_PKG_VERSION")),
        esc(env!("CARGO_PKG_DESCRIPTION")),
        instructions.join(",\n"),
        accounts.join(",\n"),
        events.join(",\n"),
        errors.join(",\n"),
        types.join(",\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ping::PingRecord;

    #[test]
    fn idl_is_fresh() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../idl/ml_agent.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == render(),
            "idl/ml_agent.json is stale: run `scripts/gen-idl.sh` and commit the result"
        );
    }

    #[test]
    fn account_layouts_match_their_specs() {
        // The zero-copy struct must be exactly discriminator + borsh body, or clients misread it.
        assert_eq!(PingRecord::LEN, 8 + PingRecord::SPEC.fixed_size().unwrap());
        assert_eq!(core::mem::offset_of!(PingRecord, count), 8 + 32);
    }

    /// Size of a fixed-size type, resolving `Ty::Defined` through `TYPES`.
    fn size_of(t: &Ty) -> usize {
        match t {
            Ty::Defined(name) => {
                let spec = TYPES.iter().find(|s| s.name == *name).unwrap();
                spec.fields.iter().map(|f| size_of(&f.ty)).sum()
            }
            Ty::Array(inner, n) => size_of(inner) * n,
            t => t.fixed_size().unwrap(),
        }
    }

    fn offset_of_field(spec: &TypeSpec, name: &str) -> usize {
        let mut at = 8;
        for f in spec.fields {
            if f.name == name {
                return at;
            }
            at += size_of(&f.ty);
        }
        panic!("no field {name}");
    }

    #[test]
    fn features_and_job_layouts_match_their_specs() {
        use crate::state::features::FeaturesAccount;
        use crate::state::job::InferenceJob;
        use core::mem::offset_of;
        let sum = |s: &TypeSpec| 8 + s.fields.iter().map(|f| size_of(&f.ty)).sum::<usize>();
        assert_eq!(FeaturesAccount::LEN, sum(&FeaturesAccount::SPEC));
        assert_eq!(InferenceJob::LEN, sum(&InferenceJob::SPEC));
        assert_eq!(
            core::mem::size_of::<crate::kernels::job::Cursor>(),
            size_of(&Ty::Defined("JobCursor"))
        );
        macro_rules! at {
            ($t:ty, $spec:expr, $($f:ident),*) => {$(
                assert_eq!(offset_of!($t, $f), offset_of_field(&$spec, stringify!($f)),
                    "{}::{}", stringify!($t), stringify!($f));
            )*};
        }
        at!(
            FeaturesAccount,
            FeaturesAccount::SPEC,
            owner,
            id,
            updated_slot,
            count,
            writes,
            bump
        );
        at!(
            InferenceJob,
            InferenceJob::SPEC,
            owner,
            model,
            weights,
            chunk_root,
            model_sha256,
            id,
            created_slot,
            finished_slot,
            units_done,
            cursor,
            version,
            steps,
            n_features,
            a_words,
            b_words,
            state_words,
            bump,
            from_account,
            padding,
            source
        );
        use crate::kernels::job::Cursor;
        let cursor = InferenceJob::CURSOR_SPEC;
        let field_at = |name: &str| offset_of_field(&cursor, name) - 8;
        assert_eq!(offset_of!(Cursor, op), field_at("op"));
        assert_eq!(offset_of!(Cursor, class), field_at("class"));
        assert_eq!(offset_of!(Cursor, out_buf), field_at("out_buf"));
    }

    #[test]
    fn registry_layouts_match_their_specs() {
        use crate::state::model::{ArchSummary, ModelHeader, ModelPage, ModelWeights};
        use core::mem::offset_of;
        let sum = |s: &TypeSpec| 8 + s.fields.iter().map(|f| size_of(&f.ty)).sum::<usize>();
        assert_eq!(ModelHeader::LEN, sum(&ModelHeader::SPEC));
        assert_eq!(ModelWeights::LEN, sum(&ModelWeights::SPEC));
        assert_eq!(ArchSummary::LEN, size_of(&Ty::Defined("ArchSummary")));
        // Every field sits where borsh puts it (no implicit repr(C) padding anywhere).
        macro_rules! at {
            ($t:ty, $spec:expr, $($f:ident),*) => {$(
                assert_eq!(offset_of!($t, $f), offset_of_field(&$spec, stringify!($f)),
                    "{}::{}", stringify!($t), stringify!($f));
            )*};
        }
        at!(
            ModelHeader,
            ModelHeader::SPEC,
            authority,
            pending_authority,
            creator,
            active_weights,
            staged_weights,
            model_sha256,
            chunk_root,
            model_id,
            model_size,
            created_slot,
            updated_slot,
            activated_slot,
            chunk_size,
            chunk_count,
            version_count,
            active_version,
            staged_version,
            live_versions,
            arch,
            format_version,
            status,
            bump,
            file_hash_verified,
            padding
        );
        at!(
            ModelWeights,
            ModelWeights::SPEC,
            model,
            authority,
            model_sha256,
            chunk_root,
            model_size,
            created_slot,
            finalized_slot,
            activated_slot,
            retired_slot,
            version,
            chunk_size,
            chunk_count,
            chunks_written,
            hashes_declared,
            data_offset,
            arch,
            format_version,
            status,
            file_hash_verified,
            padding
        );
        at!(
            ModelPage,
            ModelPage::SPEC,
            weights,
            authority,
            model_size,
            page_index,
            chunk_size,
            first_chunk,
            chunk_count,
            written,
            bump,
            padding
        );
        assert_eq!(ModelPage::LEN, sum(&ModelPage::SPEC));
        assert_eq!(ModelHeader::LEN % 8, 0);
        assert_eq!(ModelWeights::LEN % 8, 0);
        assert_eq!(ModelPage::LEN % 8, 0);
    }

    #[test]
    fn market_and_agent_layouts_match_their_specs() {
        use crate::state::agent::{Agent, DecisionRecord, RiskParams};
        use crate::state::pool::{Pool, PriceFeed};
        use core::mem::offset_of;
        let sum = |s: &TypeSpec| 8 + s.fields.iter().map(|f| size_of(&f.ty)).sum::<usize>();
        assert_eq!(Pool::LEN, sum(&Pool::SPEC));
        assert_eq!(PriceFeed::LEN, sum(&PriceFeed::SPEC));
        assert_eq!(Agent::LEN, sum(&Agent::SPEC));
        assert_eq!(RiskParams::LEN, size_of(&Ty::Defined("RiskParams")));
        assert_eq!(
            core::mem::size_of::<DecisionRecord>(),
            size_of(&Ty::Defined("DecisionRecord"))
        );
        macro_rules! at {
            ($t:ty, $spec:expr, $($f:ident),*) => {$(
                assert_eq!(offset_of!($t, $f), offset_of_field(&$spec, stringify!($f)),
                    "{}::{}", stringify!($t), stringify!($f));
            )*};
        }
        at!(
            Pool,
            Pool::SPEC,
            mint_a,
            vault_b,
            creator,
            fee_bps,
            lp_bump,
            padding
        );
        at!(
            PriceFeed,
            PriceFeed::SPEC,
            price,
            conf,
            publish_slot,
            publish_time,
            exponent,
            bump
        );
        at!(
            Agent,
            Agent::SPEC,
            authority,
            models,
            agent_id,
            step,
            last_price_slot,
            risk,
            model_versions,
            model_weights,
            features,
            exponent,
            n_features,
            decimals_diff,
            history,
            log,
            sampled,
            has_history,
            history_window,
            window_models,
            sample_padding,
            pinned_weights
        );
        use crate::state::agent_history::AgentHistory;
        assert_eq!(AgentHistory::LEN, sum(&AgentHistory::SPEC));
        at!(
            AgentHistory,
            AgentHistory::SPEC,
            agent,
            window,
            n_features,
            count,
            head,
            pushed,
            created_step
        );
        assert_eq!(Agent::LEN % 8, 0);
        // A CPI-created account is at most 10 KiB.
        const { assert!(Agent::LEN <= 10 * 1024) };
    }

    #[test]
    fn spec_kinds_match_their_lists() {
        use crate::interface::TypeKind;
        assert!(crate::state::ACCOUNTS
            .iter()
            .all(|a| a.kind == TypeKind::Account));
        assert!(EVENTS.iter().all(|e| e.kind == TypeKind::Event));
    }

    #[test]
    fn discriminators_are_unique() {
        let mut seen: Vec<[u8; 8]> = INSTRUCTIONS.iter().map(|i| i.discriminator).collect();
        seen.extend(crate::state::ACCOUNTS.iter().map(|a| a.discriminator));
        seen.extend(EVENTS.iter().map(|e| e.discriminator));
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), n);
    }
}
