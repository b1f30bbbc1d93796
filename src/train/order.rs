//! Which examples make up each batch of an epoch, and in which order the batches come.
//!
//! A batch is padded to its longest example, so random batches of short texts carry mostly padding (on the Yelp
//! sample, tokens p50 14 and p90 27: a random batch of 16 pads to about twice its real tokens). Grouping by length
//! (transformers' `group_by_length`) draws the same random permutation, cuts it into mega-batches of
//! [`MEGABATCH_BATCHES`] batches, sorts each mega-batch by length and cuts it into batches; unlike transformers'
//! `LengthGroupedSampler`, which keeps the batches longest first, the batches' order is then shuffled too, so an
//! epoch does not run from long texts to short ones.

use crate::rng::SplitMix64;

/// Batches per mega-batch, as transformers' `LengthGroupedSampler` (`mega_batch_mult` 50).
pub const MEGABATCH_BATCHES: usize = 50;

/// The batches of one epoch, as indices into the training examples, whose token counts are `lengths`. `order` is
/// the permutation of the examples, shuffled in place each epoch (start with `0..n`; keep it across epochs, so an
/// ungrouped run draws the batches it always drew). Every example is in exactly one batch; all batches have
/// `batch_size` examples but one.
pub fn epoch_batches(
    order: &mut [usize],
    lengths: &[usize],
    batch_size: usize,
    group_by_length: bool,
    rng: &mut SplitMix64,
) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    rng.shuffle(order);
    if !group_by_length {
        return order.chunks(batch_size).map(<[usize]>::to_vec).collect();
    }
    let mut batches: Vec<Vec<usize>> = Vec::with_capacity(order.len().div_ceil(batch_size));
    for megabatch in order.chunks(batch_size * MEGABATCH_BATCHES) {
        let mut sorted = megabatch.to_vec();
        // Stable: equal lengths keep their random order.
        sorted.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
        batches.extend(sorted.chunks(batch_size).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut batches);
    batches
}

/// The tokens a padded batch holds: its size times its longest example.
pub fn padded_tokens(batch: &[usize], lengths: &[usize]) -> usize {
    batch.len() * batch.iter().map(|&i| lengths[i]).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batches(lengths: &[usize], batch_size: usize, grouped: bool, seed: u64) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..lengths.len()).collect();
        epoch_batches(&mut order, lengths, batch_size, grouped, &mut SplitMix64::new(seed))
    }

    fn lengths(n: usize) -> Vec<usize> {
        let mut rng = SplitMix64::new(7);
        (0..n).map(|_| 5 + (rng.next_u64() % 60) as usize).collect()
    }

    #[test]
    fn every_example_once_in_as_many_batches_either_way() {
        let lengths = lengths(1_003);
        for grouped in [false, true] {
            let batches = batches(&lengths, 16, grouped, 1);
            assert_eq!(batches.len(), 1_003usize.div_ceil(16));
            let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..1_003).collect::<Vec<_>>());
            assert_eq!(batches.iter().filter(|b| b.len() != 16).count(), 1, "one short batch");
        }
    }

    #[test]
    fn grouping_cuts_the_padding_and_keeps_the_order_random() {
        let lengths = lengths(1_600);
        let padding =
            |grouped| -> usize { batches(&lengths, 16, grouped, 3).iter().map(|b| padded_tokens(b, &lengths)).sum() };
        let real: usize = lengths.iter().sum();
        let (random, grouped) = (padding(false), padding(true));
        assert!(random as f64 > 1.4 * real as f64, "random batches pad: {random} for {real}");
        assert!((grouped as f64) < 1.1 * real as f64, "grouped batches barely pad: {grouped} for {real}");
        // The batches are not sorted by length across the epoch (transformers' sampler would be, within a mega-batch).
        let batches = batches(&lengths, 16, true, 3);
        let longest: Vec<usize> = batches.iter().map(|b| b.iter().map(|&i| lengths[i]).max().unwrap()).collect();
        let descents = longest.windows(2).filter(|w| w[0] >= w[1]).count();
        assert!(descents > longest.len() / 4 && descents < 3 * longest.len() / 4, "{descents} of {}", longest.len());
    }

    #[test]
    fn ungrouped_batches_are_the_permutation_cut_in_order() {
        let lengths = lengths(40);
        let mut order: Vec<usize> = (0..40).collect();
        let mut rng = SplitMix64::new(9);
        for _ in 0..3 {
            let mut expected = order.clone();
            let mut twin = rng.clone();
            twin.shuffle(&mut expected);
            let batches = epoch_batches(&mut order, &lengths, 16, false, &mut rng);
            assert_eq!(batches.concat(), expected);
            assert_eq!(order, expected, "the permutation carries over to the next epoch");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_batches() {
        let lengths = lengths(300);
        let draw = |seed| batches(&lengths, 8, true, seed);
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5), draw(6));
    }
}
