//! The profiler's input file and the program input the BPF loader would build from it.

use base64::Engine;
use serde::Deserialize;

/// Account data grows by at most this much in one instruction; the loader reserves it.
const MAX_PERMITTED_DATA_INCREASE: usize = 10 * 1024;
/// Alignment of the serialized account data (BPF_ALIGN_OF_U128 in the loader).
const BPF_ALIGN_OF_U128: usize = 8;
const NON_DUP_MARKER: u8 = u8::MAX;

#[derive(Deserialize)]
pub struct InputFile {
    pub program_id: String,
    /// Hex.
    pub instruction_data: String,
    pub accounts: Vec<AccountJson>,
    /// The instruction's compute budget (default 1,400,000).
    #[serde(default)]
    pub compute_unit_limit: Option<u64>,
    #[serde(default)]
    pub rent: Option<RentJson>,
    #[serde(default)]
    pub clock: Option<ClockJson>,
}

#[derive(Deserialize)]
pub struct AccountJson {
    pub key: String,
    pub owner: String,
    pub lamports: u64,
    /// Encoded as `data_encoding` says: "hex" (the default) or "base64".
    pub data: String,
    #[serde(default)]
    pub data_encoding: Option<String>,
    #[serde(default)]
    pub is_signer: bool,
    #[serde(default)]
    pub is_writable: bool,
    #[serde(default)]
    pub executable: bool,
    /// Defaults to u64::MAX (what the runtime stores for rent-exempt accounts).
    #[serde(default)]
    pub rent_epoch: Option<u64>,
}

#[derive(Deserialize, Clone, Copy)]
pub struct RentJson {
    pub lamports_per_byte_year: u64,
    pub exemption_threshold: f64,
    pub burn_percent: u8,
}

impl Default for RentJson {
    fn default() -> Self {
        Self {
            lamports_per_byte_year: 3480,
            exemption_threshold: 2.0,
            burn_percent: 50,
        }
    }
}

#[derive(Deserialize, Clone, Copy, Default)]
pub struct ClockJson {
    #[serde(default)]
    pub slot: u64,
    #[serde(default)]
    pub epoch_start_timestamp: i64,
    #[serde(default)]
    pub epoch: u64,
    #[serde(default)]
    pub leader_schedule_epoch: u64,
    #[serde(default)]
    pub unix_timestamp: i64,
}

pub struct Account {
    pub key: [u8; 32],
    pub owner: [u8; 32],
    pub lamports: u64,
    pub data: Vec<u8>,
    pub is_signer: bool,
    pub is_writable: bool,
    pub executable: bool,
    pub rent_epoch: u64,
}

pub struct Input {
    pub program_id: [u8; 32],
    pub instruction_data: Vec<u8>,
    pub accounts: Vec<Account>,
    pub compute_unit_limit: u64,
    pub rent: RentJson,
    pub clock: ClockJson,
}

pub fn pubkey(s: &str, what: &str) -> Result<[u8; 32], String> {
    let bytes = bs58::decode(s)
        .into_vec()
        .map_err(|e| format!("{what}: bad base58 {s:?}: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{what}: {s} is {} bytes, not 32", b.len()))
}

pub fn hex_decode(s: &str, what: &str) -> Result<Vec<u8>, String> {
    let s = s.trim().trim_start_matches("0x");
    if !s.len().is_multiple_of(2) {
        return Err(format!("{what}: odd-length hex"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| format!("{what}: bad hex: {e}")))
        .collect()
}

pub fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Input {
    pub fn parse(text: &str) -> Result<Self, String> {
        let f: InputFile = serde_json::from_str(text).map_err(|e| format!("input JSON: {e}"))?;
        let mut accounts = Vec::with_capacity(f.accounts.len());
        for (i, a) in f.accounts.iter().enumerate() {
            let what = format!("accounts[{i}]");
            let data = match a.data_encoding.as_deref().unwrap_or("hex") {
                "hex" => hex_decode(&a.data, &what)?,
                "base64" => base64::engine::general_purpose::STANDARD
                    .decode(a.data.trim())
                    .map_err(|e| format!("{what}: bad base64: {e}"))?,
                other => return Err(format!("{what}: data_encoding {other:?} (hex or base64)")),
            };
            accounts.push(Account {
                key: pubkey(&a.key, &what)?,
                owner: pubkey(&a.owner, &what)?,
                lamports: a.lamports,
                data,
                is_signer: a.is_signer,
                is_writable: a.is_writable,
                executable: a.executable,
                rent_epoch: a.rent_epoch.unwrap_or(u64::MAX),
            });
        }
        Ok(Self {
            program_id: pubkey(&f.program_id, "program_id")?,
            instruction_data: hex_decode(&f.instruction_data, "instruction_data")?,
            accounts,
            compute_unit_limit: f.compute_unit_limit.unwrap_or(1_400_000),
            rent: f.rent.unwrap_or_default(),
            clock: f.clock.unwrap_or_default(),
        })
    }

    /// The loader's aligned (non-deprecated) parameter serialization.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.accounts.len() as u64).to_le_bytes());
        for (i, a) in self.accounts.iter().enumerate() {
            if let Some(first) = self.accounts[..i].iter().position(|b| b.key == a.key) {
                out.push(first as u8);
                out.extend_from_slice(&[0u8; 7]);
                continue;
            }
            out.push(NON_DUP_MARKER);
            out.push(a.is_signer as u8);
            out.push(a.is_writable as u8);
            out.push(a.executable as u8);
            out.extend_from_slice(&[0u8; 4]);
            out.extend_from_slice(&a.key);
            out.extend_from_slice(&a.owner);
            out.extend_from_slice(&a.lamports.to_le_bytes());
            out.extend_from_slice(&(a.data.len() as u64).to_le_bytes());
            out.extend_from_slice(&a.data);
            out.resize(out.len() + MAX_PERMITTED_DATA_INCREASE, 0);
            let pad = (BPF_ALIGN_OF_U128 - a.data.len() % BPF_ALIGN_OF_U128) % BPF_ALIGN_OF_U128;
            out.resize(out.len() + pad, 0);
            out.extend_from_slice(&a.rent_epoch.to_le_bytes());
        }
        out.extend_from_slice(&(self.instruction_data.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.instruction_data);
        out.extend_from_slice(&self.program_id);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(key: u8, data: Vec<u8>) -> Account {
        Account {
            key: [key; 32],
            owner: [9; 32],
            lamports: 7,
            data,
            is_signer: false,
            is_writable: true,
            executable: false,
            rent_epoch: u64::MAX,
        }
    }

    #[test]
    fn aligned_serialization_layout() {
        let inp = Input {
            program_id: [5; 32],
            instruction_data: vec![1, 2, 3],
            accounts: vec![account(1, vec![0xaa; 3]), account(1, vec![0xaa; 3])],
            compute_unit_limit: 0,
            rent: RentJson::default(),
            clock: ClockJson::default(),
        };
        let b = inp.serialize();
        assert_eq!(u64::from_le_bytes(b[0..8].try_into().unwrap()), 2);
        assert_eq!(&b[8..12], &[0xff, 0, 1, 0]);
        // key at 16, owner at 48, lamports at 80, data_len at 88, data at 96
        assert_eq!(b[16], 1);
        assert_eq!(b[48], 9);
        assert_eq!(u64::from_le_bytes(b[88..96].try_into().unwrap()), 3);
        assert_eq!(&b[96..99], &[0xaa; 3]);
        // 3 data bytes + 10 KiB realloc space, padded to 8, then rent_epoch
        let rent_at = 96 + 3 + MAX_PERMITTED_DATA_INCREASE + 5;
        assert_eq!(
            u64::from_le_bytes(b[rent_at..rent_at + 8].try_into().unwrap()),
            u64::MAX
        );
        // the second account is a duplicate of the first: index + 7 bytes of padding
        let dup = rent_at + 8;
        assert_eq!(&b[dup..dup + 8], &[0, 0, 0, 0, 0, 0, 0, 0]);
        let ix = dup + 8;
        assert_eq!(u64::from_le_bytes(b[ix..ix + 8].try_into().unwrap()), 3);
        assert_eq!(&b[ix + 8..ix + 11], &[1, 2, 3]);
        assert_eq!(&b[ix + 11..], &[5; 32]);
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex_decode("0x00ff10", "t").unwrap(), vec![0, 0xff, 0x10]);
        assert_eq!(hex_encode(&[0, 0xff, 0x10]), "00ff10");
        assert!(hex_decode("abc", "t").is_err());
    }
}
