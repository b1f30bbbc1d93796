//! Notices: what happened that the person should know (a worker restart, storage refusals, a link's settings set).

use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct Notices(RwSignal<Vec<String>>);

impl Notices {
    pub fn new() -> Self {
        Self(RwSignal::new(Vec::new()))
    }

    pub fn push(&self, message: String) {
        self.0.update(|n| n.push(message));
    }
}

#[component]
pub fn NoticeList() -> impl IntoView {
    let Notices(notices) = expect_context::<Notices>();
    view! {
        <Show when=move || !notices.get().is_empty()>
            <div id="notices" class="notices">
                {move || notices.get().into_iter().map(|n| view! { <p class="warning">{n}</p> }).collect_view()}
                <button on:click=move |_| notices.set(Vec::new())>"Dismiss"</button>
            </div>
        </Show>
    }
}
