//! `create_features(id, count)`: create the owner's features account `["features", owner, id]`
//! holding `count` values (all zero until written). The owner signs and pays the rent.

use pinocchio::{cpi::Seed, AccountView, Address, ProgramResult};

use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::interface::{field, AccountSpec, InstructionSpec, SeedSpec, Ty, SYSTEM_PROGRAM};
use crate::state::features::{FeaturesAccount, FEATURES_SEED, MAX_FEATURE_VALUES};

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "create_features",
    "Create a features account of `count` i32 Q16.16 values (zero until written); the owner \
     signs and pays the rent. At most 2,542 values (the 10 KiB a program can allocate).",
    &[
        AccountSpec::new("owner").mutable().signer(),
        AccountSpec::new("features").mutable().pda(&[
            SeedSpec::Const(FEATURES_SEED),
            SeedSpec::Account("owner"),
            SeedSpec::Arg("id"),
        ]),
        AccountSpec::new("system_program").address(SYSTEM_PROGRAM),
    ],
    &[field("id", Ty::U64), field("count", Ty::U32)],
    None,
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [owner, features, system_program, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let id = args.u64()?;
    let count = args.u32()? as usize;
    args.finish()?;

    checks::signer(owner)?;
    checks::writable(owner)?;
    checks::writable(features)?;
    checks::address(system_program, &pinocchio_system::ID)?;
    if count == 0 || count > MAX_FEATURE_VALUES {
        return Err(MlAgentError::FeaturesOutOfBounds.into());
    }
    if !features.is_data_empty() || !features.owned_by(&pinocchio_system::ID) {
        return Err(MlAgentError::AccountDiscriminatorAlreadySet.into());
    }
    let idb = id.to_le_bytes();
    let ob = owner.address().as_ref();
    let (expected, bump) = Address::find_program_address(&[FEATURES_SEED, ob, &idb], program_id);
    checks::address(features, &expected).map_err(|_| MlAgentError::ConstraintSeeds)?;
    let b = [bump];
    crate::pda::create_pda(
        program_id,
        owner,
        features,
        &crate::pda::NewPda {
            seeds: &[
                Seed::from(FEATURES_SEED),
                Seed::from(ob),
                Seed::from(&idb),
                Seed::from(&b),
            ],
            space: FeaturesAccount::space(count),
        },
    )?;
    // SAFETY: just created with space >= LEN; no other reference to its data is live.
    let f = unsafe { &mut *(features.data_ptr() as *mut FeaturesAccount) };
    *f = FeaturesAccount {
        discriminator: FeaturesAccount::SPEC.discriminator,
        owner: owner.address().to_bytes(),
        id,
        updated_slot: 0,
        count: count as u32,
        writes: 0,
        bump,
        padding: [0; 7],
    };
    Ok(())
}
