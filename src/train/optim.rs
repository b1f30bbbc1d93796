//! AdamW with decoupled weight decay, linear warmup then linear decay (transformers' default schedule),
//! and clipping by the global gradient norm (torch's `clip_grad_norm_`), all on the device: no read-back.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Tensor;

pub fn adamw(weight_decay: f64) -> burn::optim::ModuleOptimizer {
    // torch's AdamW epsilon (burn defaults to 1e-5).
    AdamWConfig::new().with_weight_decay(weight_decay as f32).with_epsilon(1e-8).init()
}

/// Learning rate at `step` (0-based) of `total`: linear warmup over `warmup` steps, then linear decay to 0,
/// as transformers' `get_linear_schedule_with_warmup`.
pub fn linear_schedule(peak: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return peak * step as f64 / warmup.max(1) as f64;
    }
    peak * (total.saturating_sub(step)) as f64 / (total.saturating_sub(warmup)).max(1) as f64
}

/// The float parameters' ids and ranks.
pub(super) fn float_params<M: Module>(model: &M) -> Vec<(ParamId, usize)> {
    let mut params = ParamList(Vec::new());
    model.visit(&mut params);
    params.0
}

struct ParamList(Vec<(ParamId, usize)>);

impl ModuleVisitor for ParamList {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push((param.id, D));
    }
}

fn scale_grad<const D: usize>(grads: &mut GradientsParams, id: ParamId, scale: &Tensor<1>) {
    if let Some(g) = grads.remove::<D>(id) {
        let factor: Tensor<D> = scale.clone().reshape([1; D]);
        grads.register(id, g * factor);
    }
}

fn squared_norm<const D: usize>(grads: &GradientsParams, id: ParamId) -> Option<Tensor<1>> {
    grads.get::<D>(id).map(|g| g.powi_scalar(2).sum())
}

/// Scales every gradient by min(1, max_norm / (‖g‖ + 1e-6)), ‖g‖ over all gradients together.
pub fn clip_global_norm<M: Module>(model: &M, mut grads: GradientsParams, max_norm: f64) -> GradientsParams {
    let params = float_params(model);
    let mut total: Option<Tensor<1>> = None;
    for &(id, rank) in &params {
        let sq = match rank {
            1 => squared_norm::<1>(&grads, id),
            2 => squared_norm::<2>(&grads, id),
            3 => squared_norm::<3>(&grads, id),
            4 => squared_norm::<4>(&grads, id),
            _ => None,
        };
        if let Some(sq) = sq {
            total = Some(match total {
                Some(t) => t + sq,
                None => sq,
            });
        }
    }
    let Some(total) = total else { return grads };
    let scale = total.sqrt().add_scalar(1e-6).recip().mul_scalar(max_norm).clamp_max(1.0);
    for &(id, rank) in &params {
        match rank {
            1 => scale_grad::<1>(&mut grads, id, &scale),
            2 => scale_grad::<2>(&mut grads, id, &scale),
            3 => scale_grad::<3>(&mut grads, id, &scale),
            4 => scale_grad::<4>(&mut grads, id, &scale),
            _ => {}
        }
    }
    grads
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        let lr: Vec<f64> = (0..10).map(|s| linear_schedule(1.0, s, 2, 10)).collect();
        assert_eq!(lr[0], 0.0);
        assert_eq!(lr[1], 0.5);
        assert_eq!(lr[2], 1.0);
        assert!((lr[6] - 0.5).abs() < 1e-12);
        assert!(lr[9] > 0.0 && lr[9] < lr[8]);
        assert_eq!(linear_schedule(1.0, 10, 2, 10), 0.0);
        assert_eq!(linear_schedule(1.0, 0, 0, 4), 1.0);
    }
}
