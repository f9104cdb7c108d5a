//! Program-owned price feeds: `create_price_feed` and `publish_price` (publisher only).

use pinocchio::{
    cpi::Seed,
    sysvars::{clock::Clock, Sysvar},
    AccountView, Address, ProgramResult,
};

use super::create_pda;
use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::interface::{field, AccountSpec, InstructionSpec, SeedSpec, Ty, SYSTEM_PROGRAM};
use crate::state::pool::{PriceFeed, FEED_SEED};

pub const CREATE_PRICE_FEED: InstructionSpec = InstructionSpec::new(
    "create_price_feed",
    "Create the publisher's PriceFeed for feed_id with a fixed exponent (-18..=0).",
    &[
        AccountSpec::new("publisher").mutable().signer(),
        AccountSpec::new("feed").mutable().pda(&[
            SeedSpec::Const(FEED_SEED),
            SeedSpec::Account("publisher"),
            SeedSpec::Arg("feed_id"),
        ]),
        AccountSpec::new("system_program").address(SYSTEM_PROGRAM),
    ],
    &[
        field("feed_id", Ty::Array(&Ty::U8, 32)),
        field("exponent", Ty::I32),
    ],
    None,
);

pub const PUBLISH_PRICE: InstructionSpec = InstructionSpec::new(
    "publish_price",
    "Publish price and confidence (mantissas at the feed's exponent); stamps the current slot \
     and unix time.",
    &[
        AccountSpec::new("publisher").signer(),
        AccountSpec::new("feed")
            .mutable()
            .pda(crate::state::pool::FEED_PDA),
    ],
    &[field("price", Ty::I64), field("conf", Ty::U64)],
    None,
);

pub fn create_price_feed(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> ProgramResult {
    let [publisher, feed, system_program, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let feed_id = *args.array::<32>()?;
    let exponent = args.u32()? as i32;
    args.finish()?;
    if !(-18..=0).contains(&exponent) {
        return Err(MlAgentError::InvalidArgument.into());
    }
    checks::signer(publisher)?;
    checks::writable(publisher)?;
    checks::address(system_program, &pinocchio_system::ID)?;
    if !feed.is_data_empty() || !feed.owned_by(&pinocchio_system::ID) {
        return Err(MlAgentError::AccountDiscriminatorAlreadySet.into());
    }
    let pk = publisher.address().as_ref();
    let (expected, bump) = Address::find_program_address(&[FEED_SEED, pk, &feed_id], program_id);
    checks::address(feed, &expected).map_err(|_| MlAgentError::ConstraintSeeds)?;
    let b = [bump];
    create_pda(
        publisher,
        feed,
        PriceFeed::LEN,
        program_id,
        &[
            Seed::from(FEED_SEED),
            Seed::from(pk),
            Seed::from(&feed_id[..]),
            Seed::from(&b),
        ],
    )?;
    // SAFETY: freshly created, zeroed, no other borrow.
    let f = unsafe { &mut *(feed.data_ptr() as *mut PriceFeed) };
    f.discriminator = PriceFeed::SPEC.discriminator;
    f.publisher = publisher.address().to_bytes();
    f.feed_id = feed_id;
    f.exponent = exponent;
    f.bump = bump;
    Ok(())
}

pub fn publish_price(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> ProgramResult {
    let [publisher, feed, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let (price, conf) = (args.i64()?, args.u64()?);
    args.finish()?;
    checks::signer(publisher)?;
    checks::writable(feed)?;
    checks::program_account(feed, program_id, &PriceFeed::SPEC, PriceFeed::LEN)?;
    // SAFETY: checked above; no other borrow.
    let f = unsafe { &mut *(feed.data_ptr() as *mut PriceFeed) };
    if f.publisher != publisher.address().to_bytes() {
        return Err(MlAgentError::NotPublisher.into());
    }
    let clock = Clock::get()?;
    f.price = price;
    f.conf = conf;
    f.publish_slot = clock.slot;
    f.publish_time = clock.unix_timestamp;
    Ok(())
}
