//! A small seeded generator for shuffling: the same sequence on every platform and backend.

#[derive(Clone)]
pub struct SplitMix64(u64);

/// The seed of the stream named `key` under `seed`, mixed by SplitMix64: streams that look unrelated for the pairs we
/// use (a run seed and a step, a step seed and a call, a call and a row).
pub fn derive_seed(seed: u64, key: u64) -> u64 {
    SplitMix64::new(seed ^ key.wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64()
}

impl SplitMix64 {
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The state to go on from later: `SplitMix64::new(state)` draws what this one would draw next.
    pub const fn state(&self) -> u64 {
        self.0
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fisher-Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}
