//! How the page writes numbers, sizes and durations.

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

/// 1234567 → "1,234,567".
pub fn format_count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `value × scale` with `digits` decimals, or "n/a".
pub fn optional(value: Option<f64>, scale: f64, digits: usize) -> String {
    value.filter(|v| v.is_finite()).map_or("n/a".into(), |v| format!("{:.*}", digits, v * scale))
}

/// A fraction as "87.5%", or "n/a".
pub fn percent(value: Option<f64>) -> String {
    optional(value, 100.0, 1) + if value.is_some() { "%" } else { "" }
}

pub fn duration(seconds: f64) -> String {
    if seconds < 90.0 { format!("{seconds:.0} s") } else { format!("{:.0} min", seconds / 60.0) }
}

/// At most `max` characters, with "…" where cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max { text.to_string() } else { text.chars().take(max).collect::<String>() + "…" }
}
