//! The RandomState port against NumPy, bit for bit.
//!
//! Fixture: `tests/fixtures/randn.json`, made by `python3 scripts/gen_randn_fixture.py`
//! (NumPy's legacy `np.random.seed(s)`, `randn`, `random_sample`; values stored as
//! IEEE-754 bit patterns in hex).

mod common;

use backprop_oracle::rng::RandomState;

fn bits(v: &serde_json::Value) -> Vec<u64> {
    v.as_array()
        .expect("array of hex strings")
        .iter()
        .map(|s| u64::from_str_radix(s.as_str().expect("hex"), 16).expect("hex digits"))
        .collect()
}

fn assert_bits_eq(what: &str, got: &[f64], want: &[u64]) {
    assert_eq!(got.len(), want.len(), "{what}: count");
    for (i, (g, &w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.to_bits(),
            w,
            "{what}[{i}]: got {g:e} ({:016x}), NumPy {:e} ({w:016x})",
            g.to_bits(),
            f64::from_bits(w)
        );
    }
}

#[test]
fn randn_matches_numpy_bit_for_bit_for_every_fixture_seed() {
    let fixture = common::fixture_json("randn.json");
    let seeds = fixture["seeds"].as_object().expect("seeds");
    assert_eq!(seeds.len(), 4, "seeds 0, 1, 42, 4294967295");
    for (seed, data) in seeds {
        let s: u32 = seed.parse().expect("u32 seed");

        let want = bits(&data["randn"]);
        assert!(want.len() >= 1000);
        let mut rng = RandomState::new(s);
        let got: Vec<f64> = (0..want.len()).map(|_| rng.gauss()).collect();
        assert_bits_eq(&format!("seed {s} randn"), &got, &want);

        // randn(3, 2), randn(1, 3), randn(5): the Gaussian cache carries across calls.
        let mut rng = RandomState::new(s);
        let mut got: Vec<f64> = Vec::new();
        for (r, c) in [(3, 2), (1, 3), (1, 5)] {
            got.extend(rng.randn(r, c).iter());
        }
        assert_bits_eq(
            &format!("seed {s} randn_split"),
            &got,
            &bits(&data["randn_split"]),
        );

        let want = bits(&data["random_sample"]);
        let mut rng = RandomState::new(s);
        let got: Vec<f64> = (0..want.len()).map(|_| rng.random_sample()).collect();
        assert_bits_eq(&format!("seed {s} random_sample"), &got, &want);
    }
}
