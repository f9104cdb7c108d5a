//! `create_version(params)`: claim `weights` as the next version of an existing model. It is
//! staged (uploaded, then finalized) while the active version keeps serving reads, and only
//! `activate_version` switches readers over.

use pinocchio::{AccountView, Address, ProgramResult};

use super::create_model::emit_version_created;
use super::{claim_weights, require_authority, require_not_frozen, Claim, ZERO};
use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::interface::{field, AccountSpec, InstructionSpec, Ty};
use crate::state::model::{ModelHeader, VersionParams};

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "create_version",
    "Claim `weights` as the model's next version (staged; the active version keeps serving).",
    &[
        AccountSpec::new("authority").mutable().signer(),
        AccountSpec::new("model")
            .mutable()
            .pda(crate::state::model::MODEL_PDA),
        AccountSpec::new("weights")
            .mutable()
            .signer()
            .docs("Fresh account created by the client, owned by this program."),
    ],
    &[field("params", Ty::Defined("VersionParams"))],
    None,
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [authority, model, weights, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let params = VersionParams::read(&mut args)?;
    args.finish()?;

    checks::writable(model)?;
    // SAFETY: only view of the header in this instruction.
    let h: &mut ModelHeader = unsafe { ModelHeader::load(model, program_id)? };
    require_authority(h, authority)?;
    require_not_frozen(h)?;
    if h.staged_weights != ZERO {
        return Err(MlAgentError::VersionPending.into());
    }
    let version = h
        .version_count
        .checked_add(1)
        .ok_or(MlAgentError::ArithmeticOverflow)?;
    let slot = super::slot()?;

    claim_weights(
        program_id,
        weights,
        &Claim {
            model: model.address(),
            authority: authority.address(),
            params: &params,
            version,
            slot,
        },
    )?;

    h.version_count = version;
    h.staged_weights = weights.address().to_bytes();
    h.staged_version = version;
    h.live_versions = h
        .live_versions
        .checked_add(1)
        .ok_or(MlAgentError::ArithmeticOverflow)?;
    h.updated_slot = slot;
    emit_version_created(model.address(), weights, version)
}
