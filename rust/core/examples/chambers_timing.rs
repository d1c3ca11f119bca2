//! Timing of the chamber enumeration (for profiling: `cargo run --profile profiling --example
//! chambers_timing -p hiddenconvex-core -- gauss|resonance [threads]`).

use hiddenconvex_core::arrangement::{enumerate, Limits};
use hiddenconvex_core::Control;
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("gauss");
    if let Some(t) = args.get(2).and_then(|s| s.parse().ok()) {
        hiddenconvex_core::parallel::set_num_threads(t).expect("threads");
    }
    let reps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let x = match which {
        "resonance" => {
            let d = 6;
            let mut v = Vec::new();
            for mask in 1..(1u32 << d) {
                for j in 0..d {
                    v.push(((mask >> j) & 1) as f64);
                }
            }
            Array2::from_shape_vec(((1 << d) - 1, d), v).expect("shape")
        }
        _ => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
            Array2::from_shape_fn((100, 4), |_| StandardNormal.sample(&mut rng))
        }
    };
    let ctl = Control::new();
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = std::time::Instant::now();
        let set = hiddenconvex_core::parallel::install(|| {
            let s = enumerate(x.view(), &Limits::default(), &ctl).expect("enumerate");
            let b = s.bools();
            let p = s.packed();
            (s, b.len(), p.len())
        })
        .expect("pool");
        let el = t.elapsed().as_secs_f64();
        best = best.min(el);
        eprintln!("{which}: {} chambers in {el:.4} s", set.0.count());
    }
    println!("{which}: best {best:.4} s");
}
