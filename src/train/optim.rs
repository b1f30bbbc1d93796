//! AdamW with decoupled weight decay, linear warmup then linear decay (transformers' default schedule),
//! and clipping by the global gradient norm (torch's `clip_grad_norm_`), all on the device: no read-back.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use super::param_path::{MapByPath, map_by_path};

/// torch's AdamW defaults (burn's epsilon is 1e-5).
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-8;

/// One parameter's AdamW state: its updates so far and both moments, flattened.
#[derive(Clone)]
pub struct Moments {
    pub updates: u32,
    pub first: Tensor<1>,
    pub second: Tensor<1>,
}

/// AdamW as torch computes it (the update of burn's `AdamW`, operation for operation), with each parameter's state
/// keyed by its path in the module (`encoder.layers.0.attention.query.lora_a`) rather than by burn's `ParamId`, which a
/// rebuilt model does not share: a checkpoint carries the state to a fresh model, read back asynchronously.
pub struct AdamW {
    weight_decay: f64,
    moments: BTreeMap<String, Moments>,
}

impl AdamW {
    pub fn new(weight_decay: f64) -> Self {
        Self { weight_decay, moments: BTreeMap::new() }
    }

    /// The optimiser of a resumed run.
    pub fn with_moments(weight_decay: f64, moments: BTreeMap<String, Moments>) -> Self {
        Self { weight_decay, moments }
    }

    pub fn moments(&self) -> &BTreeMap<String, Moments> {
        &self.moments
    }

    /// Updates every parameter of `model` that has a gradient in `grads`.
    pub fn step<M: Module>(&mut self, learning_rate: f64, model: M, mut grads: GradientsParams) -> M {
        map_by_path(model, &mut Update { optimizer: self, grads: &mut grads, learning_rate })
    }
}

struct Update<'a> {
    optimizer: &'a mut AdamW,
    grads: &'a mut GradientsParams,
    learning_rate: f64,
}

impl MapByPath for Update<'_> {
    fn map<const D: usize>(&mut self, path: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else { return Param::from_mapped_value(id, tensor, mapper) };
        let (require_grad, checkpointing) = (tensor.is_require_grad(), tensor.gradient_checkpointing_strategy());
        let dims = tensor.dims();
        let flat = [dims.iter().product::<usize>()];
        let (value, grad) = (tensor.inner().reshape(flat), grad.reshape(flat));
        let moments = match self.optimizer.moments.remove(path) {
            Some(Moments { updates, first, second }) => Moments {
                updates: updates + 1,
                first: first.mul_scalar(BETA_1).add(grad.clone().mul_scalar(1.0 - BETA_1)),
                second: second.mul_scalar(BETA_2).add(grad.square().mul_scalar(1.0 - BETA_2)),
            },
            None => Moments {
                updates: 1,
                first: grad.clone().mul_scalar(1.0 - BETA_1),
                second: grad.square().mul_scalar(1.0 - BETA_2),
            },
        };
        let time = moments.updates as i32;
        let first = moments.first.clone().div_scalar(1f32 - BETA_1.powi(time));
        let second = moments.second.clone().div_scalar(1f32 - BETA_2.powi(time));
        let delta = first.div(second.sqrt().add_scalar(EPSILON));
        let decay = self.learning_rate * self.optimizer.weight_decay;
        let decayed = if decay == 0.0 { value } else { value.mul_scalar(1.0 - decay) };
        let updated = (decayed - delta.mul_scalar(self.learning_rate)).reshape(dims);
        self.optimizer.moments.insert(path.to_string(), moments);
        let mut updated = Tensor::from_inner(updated);
        if let Some(strategy) = checkpointing {
            updated = updated.with_gradient_checkpointing_strategy(strategy);
        }
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
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
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::AdamWConfig;
    use burn::tensor::{Distribution, TensorData};

    fn gradients(model: &Linear, seed: u64) -> GradientsParams {
        let device = model.weight.val().device();
        device.seed(seed);
        let input = Tensor::<2>::random([5, 3], Distribution::Normal(0.0, 1.0), &device);
        let loss = model.forward(input).powi_scalar(2).mean();
        GradientsParams::from_grads(loss.backward(), model)
    }

    fn values<const D: usize>(tensor: Tensor<D>) -> TensorData {
        tensor.into_data()
    }

    #[test]
    fn the_update_is_burns_adamw_operation_for_operation() {
        // burn's AdamW with torch's epsilon is what the torch trajectory tests pinned before this one replaced it.
        let device = crate::device::cpu();
        device.seed(1);
        let start = LinearConfig::new(3, 2).init(&device);
        let mut reference = AdamWConfig::new().with_weight_decay(0.01).with_epsilon(1e-8).init();
        let mut ours = AdamW::new(0.01);
        let (mut theirs_model, mut our_model) = (start.clone(), start);
        for step in 0..6 {
            let learning_rate = 1e-2 * (step + 1) as f64;
            theirs_model = reference.step(learning_rate, theirs_model.clone(), gradients(&theirs_model, step));
            our_model = ours.step(learning_rate, our_model.clone(), gradients(&our_model, step));
            assert_eq!(values(our_model.weight.val()), values(theirs_model.weight.val()), "step {step}");
            assert_eq!(
                values(our_model.bias.as_ref().unwrap().val()),
                values(theirs_model.bias.as_ref().unwrap().val())
            );
        }
        assert!(our_model.weight.val().is_require_grad(), "still trainable");
        let paths: Vec<&String> = ours.moments().keys().collect();
        assert_eq!(paths, ["bias", "weight"]);
        assert_eq!(ours.moments()["weight"].updates, 6);
    }

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
