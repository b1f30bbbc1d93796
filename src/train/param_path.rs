//! Parameters by their path in the module (`encoder.layers.0.attention.query.lora_a`): the key of AdamW's state and
//! of checkpoints, because a rebuilt model does not share burn's `ParamId`s; the paths it does.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// Maps each float parameter, knowing its path.
pub trait MapByPath {
    fn map<const D: usize>(&mut self, path: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>>;
}

/// Reads each float parameter, knowing its path.
pub trait VisitByPath {
    fn visit<const D: usize>(&mut self, path: &str, param: &Param<Tensor<D>>);
}

pub fn map_by_path<M: Module, F: MapByPath>(module: M, inner: &mut F) -> M {
    module.map(&mut ByPath { inner, path: Vec::new() })
}

pub fn visit_by_path<M: Module, F: VisitByPath>(module: &M, inner: &mut F) {
    module.visit(&mut ByPath { inner, path: Vec::new() })
}

struct ByPath<'a, F> {
    inner: &'a mut F,
    path: Vec<String>,
}

impl<F: MapByPath> ModuleMapper for ByPath<'_, F> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        self.inner.map(&self.path.join("."), param)
    }
}

impl<F: VisitByPath> ModuleVisitor for ByPath<'_, F> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.inner.visit(&self.path.join("."), param)
    }
}
