//! The coarse-to-fine schedule's arithmetic: how many levels, each one's side, its share
//! of the iterations and its content weight. Pure functions of the fields, total on any
//! value (the checks in [`super::plan`] use them before the values are known to be good).

use super::types::StyleParams;

/// How many coarse-to-fine levels the run has: `scales`, or as many as lead from
/// `start_size` to `size` by `scale_factor`.
pub(crate) fn scale_count(params: &StyleParams) -> u32 {
    match params.start_size {
        None => params.scales,
        Some(start) if start >= params.size => 1,
        Some(start) => {
            let steps = (f64::from(params.size) / f64::from(start)).ln() / params.scale_factor.ln();
            // A hair of slack so that 512 from 128 by √2 counts its exact four steps.
            ((steps + 1e-9).floor() as u32).saturating_add(1)
        }
    }
}

/// The side of each level, coarsest first: `size` divided by `scale_factor` once per
/// finer level, rounded.
pub(crate) fn sides(params: &StyleParams) -> Vec<u32> {
    let count = scale_count(params);
    (0..count)
        .map(|level| {
            let steps = count - 1 - level;
            (f64::from(params.size) / params.scale_factor.powi(steps as i32)).round() as u32
        })
        .collect()
}

/// The iterations of each level, coarsest first: they add up to `iterations`, at least
/// one each, shared by `level_ratio` (the remainder to the coarsest levels first).
pub(crate) fn iterations(params: &StyleParams) -> Vec<u32> {
    let count = scale_count(params);
    let shares: Vec<f64> = (0..count)
        .map(|level| params.level_ratio.powi((count - 1 - level) as i32))
        .collect();
    let share_sum: f64 = shares.iter().sum();
    let spare = f64::from(params.iterations.saturating_sub(count));
    let ideal: Vec<f64> = shares.iter().map(|s| spare * s / share_sum).collect();
    let mut counts: Vec<u32> = ideal.iter().map(|x| 1 + x.floor() as u32).collect();
    let left = params.iterations.saturating_sub(counts.iter().sum());
    let mut by_remainder: Vec<usize> = (0..count as usize).collect();
    by_remainder.sort_by(|&a, &b| ideal[b].fract().total_cmp(&ideal[a].fract()));
    for &level in by_remainder.iter().take(left as usize) {
        counts[level] += 1;
    }
    counts
}

/// The longest side style images are resized to at a level whose content is `side` px:
/// `style_scale` times it, and never under 16 px, below which a painting has no texture
/// left to match.
pub(crate) fn style_side(params: &StyleParams, side: u32) -> u32 {
    ((f64::from(side) * params.style_scale).round() as u32).max(16)
}

/// The content weight at a level of side `side`: each coarser level weighs it
/// `content_level_ratio` times the next finer one.
pub(crate) fn content_weight(params: &StyleParams, side: u32) -> f64 {
    let finer_levels = (f64::from(params.size) / f64::from(side)).ln() / params.scale_factor.ln();
    params.content_weight
        * params
            .content_level_ratio
            .powf(finer_levels.round().max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::DEFAULT_SCALE_FACTOR;

    fn levels(params: &StyleParams) -> Vec<(u32, u32)> {
        sides(params).into_iter().zip(iterations(params)).collect()
    }

    #[test]
    fn levels_split_iterations_and_grow_by_the_scale_factor() {
        let params = StyleParams {
            size: 512,
            iterations: 100,
            scales: 3,
            start_size: None,
            scale_factor: 2.0,
            ..StyleParams::default()
        };
        assert_eq!(levels(&params), vec![(128, 34), (256, 33), (512, 33)]);
        let by_root_two = StyleParams {
            scales: 5,
            scale_factor: DEFAULT_SCALE_FACTOR,
            ..params
        };
        assert_eq!(
            levels(&by_root_two),
            vec![(128, 20), (181, 20), (256, 20), (362, 20), (512, 20)]
        );
        let too_many = StyleParams {
            scales: 10,
            ..by_root_two
        };
        // 512 / √2⁹ = 22.6 px.
        assert_eq!(sides(&too_many)[0], 23);
    }

    #[test]
    fn a_level_ratio_gives_the_coarse_levels_more_iterations() {
        let params = StyleParams {
            size: 512,
            iterations: 150,
            start_size: Some(128),
            level_ratio: 2.0,
            ..StyleParams::default()
        };
        // 145 spare iterations shared 16 : 8 : 4 : 2 : 1, one more each.
        assert_eq!(
            levels(&params),
            vec![(128, 76), (181, 38), (256, 20), (362, 10), (512, 6)]
        );
        let few = StyleParams {
            iterations: 6,
            ..params
        };
        assert_eq!(iterations(&few), [2, 1, 1, 1, 1]);
    }

    #[test]
    fn a_start_size_decides_the_levels() {
        let at = |size: u32, start: u32| StyleParams {
            size,
            start_size: Some(start),
            iterations: 100,
            ..StyleParams::default()
        };
        assert_eq!(sides(&at(512, 128)), vec![128, 181, 256, 362, 512]);
        assert_eq!(levels(&at(64, 128)), vec![(64, 100)]);
        assert_eq!(scale_count(&at(2048, 128)), 9);
        // 1000 / √2⁵ = 176.8: as many steps as fit above the start.
        assert_eq!(sides(&at(1000, 128))[0], 177);
    }

    #[test]
    fn the_content_weight_grows_towards_the_coarse_levels() {
        let params = StyleParams {
            size: 512,
            content_weight: 2.0,
            content_level_ratio: 1.5,
            scale_factor: 2.0,
            ..StyleParams::default()
        };
        assert_eq!(content_weight(&params, 512), 2.0);
        assert_eq!(content_weight(&params, 256), 3.0);
        assert_eq!(content_weight(&params, 128), 4.5);
    }
}
