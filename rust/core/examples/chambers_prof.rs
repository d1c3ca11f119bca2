use hiddenconvex_core::arrangement::{enumerate, Limits};
use hiddenconvex_core::Control;
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args[1].parse().unwrap();
    let d: usize = args[2].parse().unwrap();
    let x = if n == 0 {
        let mut v = Vec::new();
        for mask in 1..(1u32 << d) {
            for j in 0..d {
                v.push(((mask >> j) & 1) as f64);
            }
        }
        Array2::from_shape_vec(((1 << d) - 1, d), v).unwrap()
    } else {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        Array2::from_shape_fn((n, d), |_| StandardNormal.sample(&mut rng))
    };
    hiddenconvex_core::parallel::set_num_threads(1).unwrap();
    let ctl = Control::new();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let s =
            hiddenconvex_core::parallel::install(|| enumerate(x.view(), &Limits::default(), &ctl))
                .unwrap()
                .unwrap();
        println!(
            "{} chambers in {:.3}s",
            s.count(),
            t.elapsed().as_secs_f64()
        );
    }
}
