//! A small seeded generator (SplitMix64): every choice of a soak run comes from one of
//! these, so a seed replays the same run. Probabilities are in parts per million, so
//! no decision depends on float rounding.

/// One million: a probability of 1.
pub const CERTAIN: u32 = 1_000_000;

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `stream` of the run seeded `seed`: streams of one seed are
    /// independent, so the plan does not shift when the faults draw more or less.
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        rng.next_u64();
        rng
    }

    /// Where the generator stands, to carry on from it ([`Rng::resume`]).
    pub fn state(&self) -> u64 {
        self.0
    }

    pub fn resume(state: u64) -> Rng {
        Rng(state)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`0` when `n` is `0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // n is far below 2^32 here, so the modulo bias is negligible.
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `ppm` / 1,000,000.
    pub fn chance(&mut self, ppm: u32) -> bool {
        (self.next_u64() % u64::from(CERTAIN)) < u64::from(ppm)
    }

    /// One of `items`, each as likely as its weight.
    pub fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> Option<T> {
        let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
        if total == 0 {
            return None;
        }
        let mut at = self.next_u64() % total;
        for (item, weight) in items {
            if at < u64::from(*weight) {
                return Some(*item);
            }
            at -= u64::from(*weight);
        }
        None
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn a_seed_replays_the_same_draws_and_streams_differ() {
        let draws = |seed, stream| {
            let mut r = Rng::new(seed, stream);
            (0..5).map(|_| r.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draws(1, 0), draws(1, 0));
        assert_ne!(draws(1, 0), draws(1, 1));
        assert_ne!(draws(1, 0), draws(2, 0));
    }

    #[test]
    fn weighted_choices_follow_their_weights_and_skip_zero_weights() {
        let mut r = Rng::new(7, 0);
        let picks: Vec<_> = (0..1000).filter_map(|_| r.weighted(&[("a", 0), ("b", 1)])).collect();
        assert!(picks.iter().all(|p| *p == "b"));
        assert_eq!(r.weighted::<u8>(&[]), None);
    }
}
