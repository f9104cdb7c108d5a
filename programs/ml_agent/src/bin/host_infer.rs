//! Native host run of the on-chain kernels: `host-infer MODEL.mlag FEATURES.bin [REPEAT]`.
//!
//! FEATURES.bin holds rows of `n_features` little-endian i32 Q16.16 values. Runs every row
//! through `kernels::exec::run` (the code the program executes, compiled for the host) REPEAT
//! times (default 1) and prints one JSON object: the per-row class, confidence and outputs of the
//! first pass, and the mean wall time per inference over all passes. `python -m client bench`
//! uses it for the "native Rust" column.

use std::io::Write;
use std::time::Instant;

use ml_agent::kernels::exec::{run, NoObserver};
use ml_agent::kernels::model::ModelView;
use ml_agent::kernels::scratch::{Scratch, DEFAULT_HEAP_BYTES};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: host-infer MODEL.mlag FEATURES.bin [REPEAT]");
        std::process::exit(2);
    }
    let model = std::fs::read(&args[1]).unwrap_or_else(|e| fail(&format!("{}: {e}", args[1])));
    let features = std::fs::read(&args[2]).unwrap_or_else(|e| fail(&format!("{}: {e}", args[2])));
    let repeat: usize = args.get(3).map_or(1, |r| r.parse().unwrap_or(1)).max(1);

    // The kernels need the model 8-byte aligned, as the registry stores it.
    let mut words = vec![0u64; model.len().div_ceil(8)];
    // SAFETY: the words own at least model.len() bytes.
    let aligned =
        unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr() as *mut u8, model.len()) };
    aligned.copy_from_slice(&model);
    let view = ModelView::parse(aligned).unwrap_or_else(|e| fail(&format!("model: {e:?}")));
    let row_bytes = 4 * view.n_features;
    if features.is_empty() || !features.len().is_multiple_of(row_bytes) {
        fail(&format!(
            "features: not a whole number of {row_bytes}-byte rows"
        ));
    }
    let rows = features.len() / row_bytes;
    let mut arena = vec![0i64; DEFAULT_HEAP_BYTES / 8];

    let mut out = String::from("{\"rows\": [");
    for r in 0..rows {
        let mut scratch = Scratch::new(&mut arena);
        let x = &features[r * row_bytes..(r + 1) * row_bytes];
        match run::<_, false>(&view, x, &mut scratch, &mut NoObserver) {
            Ok(res) => {
                let outs: Vec<String> = res.outputs.iter().map(|v| v.to_string()).collect();
                out += &format!(
                    "{}{{\"class\": {}, \"confidence_q16\": {}, \"outputs\": [{}]}}",
                    if r > 0 { ", " } else { "" },
                    res.class,
                    res.confidence as u32,
                    outs.join(", ")
                );
            }
            Err(e) => out += &format!("{}{{\"error\": \"{e:?}\"}}", if r > 0 { ", " } else { "" }),
        }
    }
    let start = Instant::now();
    let mut checksum = 0i64;
    for _ in 0..repeat {
        for r in 0..rows {
            let mut scratch = Scratch::new(&mut arena);
            let x = &features[r * row_bytes..(r + 1) * row_bytes];
            if let Ok(res) = run::<_, false>(&view, x, &mut scratch, &mut NoObserver) {
                checksum = checksum
                    .wrapping_add(res.outputs[0])
                    .wrapping_add(res.class as i64);
            }
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / (rows * repeat) as f64;
    out += &format!("], \"ns_per_inference\": {ns:.1}, \"checksum\": {checksum}}}\n");
    std::io::stdout().write_all(out.as_bytes()).unwrap();
}

fn fail(msg: &str) -> ! {
    eprintln!("host-infer: {msg}");
    std::process::exit(1);
}
