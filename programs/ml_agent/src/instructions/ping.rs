//! `ping(payload)`: creates (first call) or updates the caller's `PingRecord` PDA, emits
//! `Pinged`, and returns the new count. The smallest instruction that exercises every piece of
//! plumbing: signer/owner/PDA checks, system-program CPI, borsh args, events and return data.

use pinocchio::{
    cpi::Seed,
    sysvars::{clock::Clock, Sysvar},
    AccountView, Address, ProgramResult,
};

use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::interface::{
    field, AccountSpec, InstructionSpec, SeedSpec, Ty, TypeSpec, SYSTEM_PROGRAM,
};
use crate::state::ping::PingRecord;

/// Largest payload accepted; keeps the instruction well inside one transaction.
pub const MAX_PAYLOAD: usize = 512;

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "ping",
    "Create or update the caller's PingRecord and return the new count (u64).",
    &[
        AccountSpec::new("authority")
            .mutable()
            .signer()
            .docs("Pays for and owns the record."),
        AccountSpec::new("ping_record").mutable().pda(&[
            SeedSpec::Const(PingRecord::SEED),
            SeedSpec::Account("authority"),
        ]),
        AccountSpec::new("system_program").address(SYSTEM_PROGRAM),
    ],
    &[field("payload", Ty::Bytes)],
    Some(Ty::U64),
);

pub const PINGED: TypeSpec = TypeSpec::event(
    "Pinged",
    "Emitted by every successful ping.",
    &[
        field("authority", Ty::Pubkey),
        field("count", Ty::U64),
        field("slot", Ty::U64),
        field("payload_len", Ty::U32),
    ],
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [authority, record, system_program, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let payload = args.bytes()?;
    args.finish()?;
    if payload.len() > MAX_PAYLOAD {
        return Err(MlAgentError::InvalidArgument.into());
    }

    checks::signer(authority)?;
    checks::writable(authority)?;
    checks::writable(record)?;
    checks::address(system_program, &pinocchio_system::ID)?;

    let slot = Clock::get()?.slot;

    if record.is_data_empty() && record.owned_by(&pinocchio_system::ID) {
        // First ping: the canonical bump makes exactly one record per authority.
        let (expected, bump) = Address::find_program_address(
            &[PingRecord::SEED, authority.address().as_ref()],
            program_id,
        );
        checks::address(record, &expected).map_err(|_| MlAgentError::ConstraintSeeds)?;
        let bump_seed = [bump];
        let seeds = [
            Seed::from(PingRecord::SEED),
            Seed::from(authority.address().as_ref()),
            Seed::from(&bump_seed),
        ];
        crate::pda::create_pda(
            program_id,
            authority,
            record,
            &crate::pda::NewPda {
                seeds: &seeds,
                space: PingRecord::LEN,
            },
        )?;
        // SAFETY: freshly created, PingRecord::LEN bytes, zeroed, aligned, no other borrow.
        let rec = unsafe { PingRecord::from_bytes_mut(record.borrow_unchecked_mut()) };
        rec.discriminator = PingRecord::SPEC.discriminator;
        rec.authority = authority.address().to_bytes();
        rec.bump = bump;
    } else {
        checks::program_account(record, program_id, &PingRecord::SPEC, PingRecord::LEN)?;
        // SAFETY: checked owner, discriminator and length above.
        let rec = unsafe { PingRecord::from_bytes_mut(record.borrow_unchecked_mut()) };
        if rec.authority != authority.address().to_bytes() {
            return Err(MlAgentError::ConstraintSeeds.into());
        }
        let expected = Address::derive_address(
            &[PingRecord::SEED, authority.address().as_ref()],
            Some(rec.bump),
            program_id,
        );
        checks::address(record, &expected).map_err(|_| MlAgentError::ConstraintSeeds)?;
    }

    // SAFETY: validated above; the CPI borrow has ended.
    let rec = unsafe { PingRecord::from_bytes_mut(record.borrow_unchecked_mut()) };
    rec.count = rec
        .count
        .checked_add(1)
        .ok_or(MlAgentError::ArithmeticOverflow)?;
    rec.last_slot = slot;
    rec.last_payload_len = payload.len() as u32;

    let mut buf = [0u8; 60];
    let mut w = BorshWriter::event(&PINGED, &mut buf);
    w.bytes(authority.address().as_ref())
        .u64(rec.count)
        .u64(slot)
        .u32(payload.len() as u32);
    emit(w.finish());

    pinocchio::cpi::set_return_data(&rec.count.to_le_bytes());
    Ok(())
}
