//! The running comparison as the worker reports it: units started, steps, evaluations, checkpoints stored, runs
//! finished (stored, then shown) or failed; and its section: the budget, Compare and Cancel, the progress line with
//! its ETA, the failures.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::budget::BudgetFields;
use super::compare::{Comparison, Progress};
use super::format::{duration, format_count};
use super::{mark, now_ms};
use crate::session::compare::{SearchOutcome, Unit};
use crate::share::peft::AdapterFiles;
use crate::train::{MethodResult, TrainEvent};
use crate::web::store::{self, StoredRun};

impl Comparison {
    /// "lora r8 · seed 42" or "lora r8 · learning-rate search", for a unit of the running comparison.
    fn unit_name(&self, unit: Unit) -> Option<String> {
        let label =
            self.running.with_untracked(|r| r.as_ref()?.plan.methods.get(unit.method()).map(|m| m.config.label()))?;
        Some(match unit {
            Unit::Search { .. } => format!("{label} · learning-rate search"),
            Unit::Run { seed, .. } => format!("{label} · seed {seed}"),
        })
    }

    fn update_unit(&self, unit: Unit, change: impl FnOnce(&mut Progress)) {
        self.progress.update(|p| {
            if let Some(p) = p.iter_mut().find(|p| p.unit == unit) {
                change(p);
            }
        });
    }

    fn update_curve(&self, unit: Unit, change: impl FnOnce(&mut (Unit, Vec<f32>, Vec<(usize, f64)>))) {
        self.live.update(|live| {
            if let Some(curve) = live.iter_mut().find(|(u, _, _)| *u == unit) {
                change(curve);
            }
        });
    }

    fn unit_done(&self, unit: Unit) {
        self.update_unit(unit, |p| {
            p.finished = true;
            p.step = p.total_steps;
        });
    }

    pub fn unit_started(&self, unit: Unit, total_steps: usize) {
        let Some(name) = self.unit_name(unit) else { return };
        if let Unit::Run { .. } = unit {
            self.live.update(|live| live.push((unit, Vec::new(), Vec::new())));
        }
        let started = Progress {
            unit,
            name,
            step: 0,
            total_steps,
            seconds_per_step: 0.0,
            finished: false,
            timed_steps: 0,
            saved_step: None,
            resumed_from: None,
        };
        self.progress.update(|p| p.push(started));
    }

    pub fn on_progress(&self, unit: Unit, event: TrainEvent) {
        match event {
            TrainEvent::Step { step, loss, seconds, .. } => {
                if !self.first_step_marked.get_value() {
                    self.first_step_marked.set_value(true);
                    mark("peft-lab:first-step");
                }
                self.update_curve(unit, |curve| curve.1.push(loss));
                self.update_unit(unit, |p| {
                    // The first step compiles GPU kernels; the ETA uses the mean of the later ones. A search's trials
                    // each start again at step 1, so its steps are counted across them.
                    p.timed_steps += 1;
                    p.seconds_per_step = match p.timed_steps {
                        1 | 2 => seconds,
                        n => (p.seconds_per_step * (n - 2) as f64 + seconds) / (n - 1) as f64,
                    };
                    p.step = match unit {
                        Unit::Search { .. } => p.step + 1,
                        Unit::Run { .. } => step,
                    };
                });
            }
            TrainEvent::Resumed { step, losses, .. } => {
                self.update_curve(unit, |curve| {
                    curve.1 = losses;
                    curve.2.clear();
                });
                self.update_unit(unit, |p| {
                    match unit {
                        Unit::Search { .. } => p.step += step,
                        Unit::Run { .. } => p.step = step,
                    }
                    p.resumed_from = Some(step);
                    p.saved_step = Some(step);
                });
            }
            // The page compares classifiers; a decoder's view comes with its own page.
            TrainEvent::Started { .. } | TrainEvent::LmEvaluated { .. } => {}
            TrainEvent::Evaluated { epoch, metrics, .. } => {
                self.update_curve(unit, |curve| curve.2.push((epoch, metrics.accuracy)))
            }
        }
    }

    pub fn checkpoint_saved(&self, unit: Unit, step: usize) {
        self.update_unit(unit, |p| p.saved_step = Some(p.saved_step.map_or(step, |saved| saved.max(step))));
    }

    pub fn checkpoint_failed(&self, unit: Unit, step: usize, error: String) {
        let name = self.unit_name(unit).unwrap_or_default();
        self.notices.push(format!(
            "{name}: its checkpoint at step {step} could not be stored in the browser ({error}); training goes on, but \
             a reload would start it again"
        ));
    }

    pub fn search_finished(&self, method: usize, outcome: SearchOutcome) {
        self.unit_done(Unit::Search { method });
        self.searches.update(|s| s.push((method, outcome)));
    }

    pub fn unit_failed(&self, unit: Unit, error: String) {
        self.unit_done(unit);
        let name = self.unit_name(unit).unwrap_or_default();
        self.failures.update(|f| f.push((unit, name, error)))
    }

    /// A run finished: stored with what it ran on, then shown (so what the table shows survives a reload).
    pub fn run_finished(&self, method: usize, result: MethodResult, adapter: AdapterFiles) {
        let Some(running) = self.running.get_untracked() else { return };
        let unit = Unit::Run { method, seed: result.seed };
        self.unit_done(unit);
        // "Try it" has each method's run of the first seed.
        if running.plan.seeds.first() == Some(&result.seed) {
            self.try_it.tryable.update(|t| t.push(result.method.clone()));
        }
        let search = self.searches.with_untracked(|s| s.iter().find(|(m, _)| *m == method).map(|(_, o)| o.clone()));
        let run = StoredRun {
            comparison: running.comparison,
            index: method,
            dataset: running.dataset,
            columns: Some(running.columns),
            val_fraction: Some(running.val_fraction),
            test_fraction: running.test_fraction,
            train_examples: Some(running.train_examples),
            model: running.model,
            backend: running.backend,
            config: running.plan.config_for(result.seed),
            plan: Some(running.plan),
            search,
            finished_at: Some(now_ms()),
            result,
            adapter,
        };
        let (notices, results) = (self.notices, self.results);
        spawn_local(async move {
            let stored = match store::save(&run).await {
                Ok(()) => {
                    store::announce_change();
                    true
                }
                Err(e) => {
                    notices.push(format!(
                        "{} finished but could not be stored in the browser ({e}): download it under Results before \
                         this page closes",
                        run.result.method
                    ));
                    false
                }
            };
            results.add(run, stored);
        });
    }
}

/// The comparison's progress: steps done of the whole plan, the ETA, and a line per unit training.
#[component]
pub fn ProgressView() -> impl IntoView {
    let comparison = expect_context::<Comparison>();
    move || {
        let units = comparison.progress.get();
        let total = comparison.running.with(|r| r.as_ref().map(|r| r.total_steps))?.max(1);
        let training: Vec<&Progress> = units.iter().filter(|p| !p.finished).collect();
        let done: usize = units.iter().map(|p| if p.finished { p.total_steps } else { p.step }).sum();
        // Units not started yet run as fast as those running now, as many at once.
        let timed: Vec<f64> = training.iter().filter(|p| p.step >= 2).map(|p| p.seconds_per_step).collect();
        let eta = if timed.is_empty() {
            "ETA after the first steps (the first compiles GPU kernels)".to_string()
        } else {
            let mean = timed.iter().sum::<f64>() / timed.len() as f64;
            format!("about {} left", duration(total.saturating_sub(done) as f64 * mean / training.len().max(1) as f64))
        };
        let lines = training
            .into_iter()
            .map(|p| {
                let line = format!("{}: step {}/{} · {:.2} s/step", p.name, p.step, p.total_steps, p.seconds_per_step);
                let resumed = p.resumed_from.map(|step| {
                    view! { <span class="resumed" data-step=step>{format!(" · went on from step {step}")}</span> }
                });
                let saved = p.saved_step.map(|step| {
                    view! { <span class="saved" data-step=step>{format!(" · saved at step {step}")}</span> }
                });
                view! { <li>{line}{resumed}{saved}</li> }
            })
            .collect_view();
        Some(view! {
            <div id="progress">
                <progress value=done.min(total) as f64 max=total as f64></progress>
                <span>{format!("{} of {} steps · ", format_count(done.min(total)), format_count(total))}{eta}</span>
                <ul class="running">{lines}</ul>
            </div>
        })
    }
}

#[component]
pub fn CompareSection() -> impl IntoView {
    let comparison = expect_context::<Comparison>();
    view! {
        <section id="compare-section">
            <h2>"3. Budget and compare"</h2>
            <BudgetFields />
            <div class="actions">
                <button id="compare" class="primary" on:click=move |_| comparison.compare()
                    disabled=move || !comparison.can_start() || comparison.is_running()>"Compare"</button>
                <button id="cancel" on:click=move |_| comparison.cancel() disabled=move || !comparison.is_running()>"Cancel"</button>
            </div>
            <Show when=move || comparison.error.get().is_some()>
                <p id="compare-error" class="error" role="alert">{move || comparison.error.get()}</p>
            </Show>
            <ProgressView />
            <Show when=move || !comparison.failures.get().is_empty()>
                <ul id="failures">{move || comparison.failures.get().into_iter().map(|(_, name, e)| view! { <li class="error">{name} " failed: " {e}</li> }).collect_view()}</ul>
            </Show>
        </section>
    }
}
