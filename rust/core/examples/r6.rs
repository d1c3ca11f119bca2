//! Timing helper: `cargo run --profile fastdev --example r6 -- [reps] [d]` enumerates the
//! resonance arrangement of R^d (default 6) `reps` times.
use hiddenconvex_core::arrangement as arr;
use hiddenconvex_core::Control;
use ndarray::Array2;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let reps: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let d: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(6);
    let rows: Vec<f64> = (1..(1u32 << d))
        .flat_map(|m| (0..d).map(move |j| ((m >> j) & 1) as f64))
        .collect();
    let x = Array2::from_shape_vec(((1 << d) - 1, d), rows).expect("shape");
    let ctl = Control::new();
    let mut times = Vec::new();
    let mut count = 0;
    for _ in 0..reps {
        let t = Instant::now();
        let set = arr::enumerate(x.view(), &arr::Limits::default(), &ctl).expect("enumerate");
        times.push(t.elapsed().as_secs_f64());
        count = set.count();
    }
    times.sort_by(f64::total_cmp);
    println!("resonance R^{d}: {count} chambers, times {times:.3?}");
    let prep = arr::prepare(x.view()).expect("prepare");
    let rb = arr::restricted_bound(&prep, &ctl).expect("bound");
    println!("Cover bound {}, restricted bound {rb}", prep.bound());
}
