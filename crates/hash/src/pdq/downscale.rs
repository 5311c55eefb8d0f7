//! Blur and decimate a luma image of any size to 64×64, bit for bit as the reference does.
//!
//! The reference blurs the whole image with two passes of a 1-D box filter along rows then
//! columns (a "Jarosz" tent filter), computed with running `f32` sums, and then samples 64×64
//! points. Every rounding step matters for bit-exactness, so each output value here is produced
//! by exactly the same sequence of `f32` additions, subtractions and divisions as in the
//! reference. What differs is the order in which independent values are computed:
//!
//! * rows are streamed top to bottom, so memory is a few rows per pass instead of two
//!   full-size float copies of the image;
//! * the column passes run as running sums over whole rows (one sum per column, vectorised);
//! * the row passes run on bands of [`LANES`] rows interleaved, so that each step of the
//!   running sums is one vector operation for [`LANES`] rows;
//! * the second row pass divides only at the 64 columns that are sampled, and the second
//!   column pass runs only on those 64 columns.

/// Rows processed together by the row passes.
const LANES: usize = 8;
type Lanes = [f32; LANES];

/// The fixed schedule of one 1-D box filter of `window` over `len` values.
///
/// For output `o`, the reference's running sum holds inputs
/// `o - (window - half) ..= o + half - 1`, clipped to the vector, and divides by their count.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BoxPlan {
    len: usize,
    window: usize,
    /// Inputs added before the first output.
    lead: usize,
    /// Outputs written while the window is still growing.
    grow: usize,
    /// Outputs written with the full window.
    full: usize,
}

impl BoxPlan {
    pub(crate) fn new(len: usize, window: usize) -> Self {
        debug_assert!(window >= 1 && window <= len);
        let half = (window + 2) / 2;
        BoxPlan { len, window, lead: half - 1, grow: window - half + 1, full: len - window }
    }
}

/// Window size of each box pass when shrinking `old` to `new` samples.
pub(crate) fn jarosz_window(old: usize, new: usize) -> usize {
    old.div_ceil(2 * new)
}

/// The input index sampled for each of 64 outputs ("target centres, not corners").
pub(crate) fn sample_indices(len: usize) -> [usize; 64] {
    let mut out = [0usize; 64];
    for (o, v) in out.iter_mut().enumerate() {
        *v = (((o as f64 + 0.5) * len as f64) / 64.0) as usize;
    }
    out
}

#[inline(always)]
fn lanes_add(s: &mut Lanes, x: &Lanes) {
    for l in 0..LANES {
        s[l] += x[l];
    }
}

#[inline(always)]
fn lanes_add_sub(s: &mut Lanes, add: &Lanes, sub: &Lanes) {
    for l in 0..LANES {
        s[l] += add[l];
        s[l] -= sub[l];
    }
}

#[inline(always)]
fn lanes_sub(s: &mut Lanes, x: &Lanes) {
    for l in 0..LANES {
        s[l] -= x[l];
    }
}

#[inline(always)]
fn lanes_div(s: &Lanes, d: f32) -> Lanes {
    let mut out = [0f32; LANES];
    for l in 0..LANES {
        out[l] = s[l] / d;
    }
    out
}

/// Box filter along `LANES` interleaved rows, every output written.
fn hbox_full(x: &[Lanes], y: &mut [Lanes], p: &BoxPlan) {
    let mut sum = [0f32; LANES];
    let mut count = 0usize;
    let mut ri = 0;
    for _ in 0..p.lead {
        lanes_add(&mut sum, &x[ri]);
        ri += 1;
        count += 1;
    }
    let mut oi = 0;
    for _ in 0..p.grow {
        lanes_add(&mut sum, &x[ri]);
        ri += 1;
        count += 1;
        y[oi] = lanes_div(&sum, count as f32);
        oi += 1;
    }
    let w = count as f32;
    let (adds, subs) = (&x[ri..ri + p.full], &x[..p.full]);
    for ((out, a), s) in y[oi..oi + p.full].iter_mut().zip(adds).zip(subs) {
        lanes_add_sub(&mut sum, a, s);
        *out = lanes_div(&sum, w);
    }
    oi += p.full;
    let mut li = p.full;
    while oi < p.len {
        lanes_sub(&mut sum, &x[li]);
        li += 1;
        count -= 1;
        y[oi] = lanes_div(&sum, count as f32);
        oi += 1;
    }
}

/// Box filter along `LANES` interleaved rows, writing only the outputs at `samples`
/// (non-decreasing; repeats allowed) into `out[k]` for the k-th sample.
fn hbox_sampled(x: &[Lanes], samples: &[usize; 64], out: &mut [Lanes; 64], p: &BoxPlan) {
    let mut sum = [0f32; LANES];
    let mut k = 0;
    let mut emit = |oi: usize, sum: &Lanes, count: usize, out: &mut [Lanes; 64]| {
        while k < 64 && samples[k] == oi {
            out[k] = lanes_div(sum, count as f32);
            k += 1;
        }
    };
    let mut count = 0usize;
    let mut ri = 0;
    for _ in 0..p.lead {
        lanes_add(&mut sum, &x[ri]);
        ri += 1;
        count += 1;
    }
    let mut oi = 0;
    for _ in 0..p.grow {
        lanes_add(&mut sum, &x[ri]);
        ri += 1;
        count += 1;
        emit(oi, &sum, count, out);
        oi += 1;
    }
    // Full-window stretch: only additions, except at sampled columns.
    let mut li = 0;
    let full_end = oi + p.full;
    let mut next = samples.iter().copied().find(|&s| s >= oi).unwrap_or(usize::MAX);
    while oi < full_end {
        let stop = next.min(full_end - 1);
        // Advance the running sum up to and including output `stop`.
        for (a, s) in x[ri..ri + (stop + 1 - oi)].iter().zip(&x[li..]) {
            lanes_add_sub(&mut sum, a, s);
        }
        let steps = stop + 1 - oi;
        ri += steps;
        li += steps;
        oi = stop;
        emit(oi, &sum, count, out);
        oi += 1;
        next = samples.iter().copied().find(|&s| s >= oi).unwrap_or(usize::MAX);
    }
    while oi < p.len {
        lanes_sub(&mut sum, &x[li]);
        li += 1;
        count -= 1;
        emit(oi, &sum, count, out);
        oi += 1;
    }
}

/// A box filter down columns, fed one row at a time, keeping only the rows it still needs.
struct VBox {
    plan: BoxPlan,
    width: usize,
    sums: Vec<f32>,
    /// The last `window + 1` input rows, for the subtractions.
    ring: Vec<f32>,
    rows_in: usize,
    rows_out: usize,
    count: usize,
    /// The output row most recently produced.
    out: Vec<f32>,
}

impl VBox {
    fn new(plan: BoxPlan, width: usize) -> Self {
        VBox {
            plan,
            width,
            sums: vec![0.0; width],
            ring: vec![0.0; width * (plan.window + 1)],
            rows_in: 0,
            rows_out: 0,
            count: 0,
            out: vec![0.0; width],
        }
    }

    fn ring_row(&self, idx: usize) -> std::ops::Range<usize> {
        let slot = idx % (self.plan.window + 1);
        slot * self.width..(slot + 1) * self.width
    }

    /// Feeds the next input row; returns the index of the output row now in `self.out`, if any.
    fn push(&mut self, row: &[f32]) -> Option<usize> {
        let ri = self.rows_in;
        self.rows_in += 1;
        let slot = self.ring_row(ri);
        self.ring[slot].copy_from_slice(row);
        let p = self.plan;
        if ri < p.lead + p.grow {
            for (s, &a) in self.sums.iter_mut().zip(row) {
                *s += a;
            }
            self.count += 1;
            if ri < p.lead {
                return None;
            }
        } else {
            let old = self.ring_row(ri - p.window);
            for ((s, &a), &b) in self.sums.iter_mut().zip(row).zip(&self.ring[old]) {
                *s += a;
                *s -= b;
            }
        }
        Some(self.emit())
    }

    /// After the last input row: produces the next of the trailing outputs, if any remain.
    fn finish_step(&mut self) -> Option<usize> {
        if self.rows_out >= self.plan.len {
            return None;
        }
        let li = self.rows_out - self.plan.grow;
        let old = self.ring_row(li);
        for (s, &b) in self.sums.iter_mut().zip(&self.ring[old]) {
            *s -= b;
        }
        self.count -= 1;
        Some(self.emit())
    }

    fn emit(&mut self) -> usize {
        let d = self.count as f32;
        for (o, &s) in self.out.iter_mut().zip(&self.sums) {
            *o = s / d;
        }
        self.rows_out += 1;
        self.rows_out - 1
    }
}

/// A source of luma rows, asked for rows `0..height` in order, each exactly once.
pub trait LumaRows {
    /// Image width in pixels.
    fn width(&self) -> usize;
    /// Image height in pixels.
    fn height(&self) -> usize;
    /// Writes row `y` (`width` values) into `out`.
    fn fill_row(&mut self, y: usize, out: &mut [f32]);
    /// Writes rows `y0 .. y0 + lanes` (at most 8) interleaved: `out[x][l]` is pixel `x` of
    /// row `y0 + l`. Lanes from `lanes` to 8 are left as they are.
    fn fill_band(&mut self, y0: usize, lanes: usize, out: &mut [[f32; 8]]) {
        let mut row = vec![0f32; self.width()];
        for l in 0..lanes {
            self.fill_row(y0 + l, &mut row);
            for (o, &v) in out.iter_mut().zip(&row) {
                o[l] = v;
            }
        }
    }
}

/// Interleaves `n_rows` rows of `width` values into `out[x][l]`, zeroing unused lanes.
fn interleave(rows: &[f32], n_rows: usize, width: usize, out: &mut [Lanes]) {
    if n_rows < LANES {
        out.iter_mut().for_each(|o| *o = [0.0; LANES]);
    }
    for (l, row) in rows.chunks_exact(width).take(n_rows).enumerate() {
        for (o, &v) in out.iter_mut().zip(row) {
            o[l] = v;
        }
    }
}

/// Blurs and decimates the image to 64×64 exactly as the reference's
/// `jaroszFilterFloat` + `decimateFloat` would. Both sides must be at least 1 pixel.
pub(crate) fn downscale_64(src: &mut dyn LumaRows, out: &mut [[f32; 64]; 64]) {
    let (w, h) = (src.width(), src.height());
    let row_plan = BoxPlan::new(w, jarosz_window(w, 64));
    let col_plan = BoxPlan::new(h, jarosz_window(h, 64));
    let sample_cols = sample_indices(w);
    let sample_rows = sample_indices(h);

    let mut x = vec![[0f32; LANES]; w];
    let mut y = vec![[0f32; LANES]; w];
    let mut row = vec![0f32; w];
    let mut pass1_cols = VBox::new(col_plan, w);
    let mut pass2_cols = VBox::new(col_plan, 64);
    // Rows of the first column pass waiting for the second row pass.
    let mut pending = vec![0f32; LANES * w];
    let mut n_pending = 0;
    let mut sampled = [[0f32; LANES]; 64];
    let mut col64 = [0f32; 64];
    let mut k_row = 0;

    // Second row pass on the pending band, then the second column pass on the 64 columns.
    let mut flush = |pending: &[f32],
                     n_pending: usize,
                     x: &mut [Lanes],
                     pass2_cols: &mut VBox,
                     finish: bool,
                     out: &mut [[f32; 64]; 64]| {
        let mut take = |o: usize, pass2_cols: &VBox, out: &mut [[f32; 64]; 64]| {
            while k_row < 64 && sample_rows[k_row] == o {
                out[k_row].copy_from_slice(&pass2_cols.out);
                k_row += 1;
            }
        };
        if n_pending > 0 {
            interleave(pending, n_pending, w, x);
            hbox_sampled(x, &sample_cols, &mut sampled, &row_plan);
            for l in 0..n_pending {
                for (c, s) in col64.iter_mut().zip(&sampled) {
                    *c = s[l];
                }
                if let Some(o) = pass2_cols.push(&col64) {
                    take(o, pass2_cols, out);
                }
            }
        }
        if finish {
            while let Some(o) = pass2_cols.finish_step() {
                take(o, pass2_cols, out);
            }
        }
    };

    let mut y0 = 0;
    while y0 < h {
        let n = LANES.min(h - y0);
        if n < LANES {
            x.iter_mut().for_each(|o| *o = [0.0; LANES]);
        }
        src.fill_band(y0, n, &mut x);
        hbox_full(&x, &mut y, &row_plan);
        for l in 0..n {
            for (r, v) in row.iter_mut().zip(&y) {
                *r = v[l];
            }
            if pass1_cols.push(&row).is_some() {
                pending[n_pending * w..(n_pending + 1) * w].copy_from_slice(&pass1_cols.out);
                n_pending += 1;
                if n_pending == LANES {
                    flush(&pending, n_pending, &mut x, &mut pass2_cols, false, out);
                    n_pending = 0;
                }
            }
        }
        y0 += n;
    }
    while pass1_cols.finish_step().is_some() {
        pending[n_pending * w..(n_pending + 1) * w].copy_from_slice(&pass1_cols.out);
        n_pending += 1;
        if n_pending == LANES {
            flush(&pending, n_pending, &mut x, &mut pass2_cols, false, out);
            n_pending = 0;
        }
    }
    flush(&pending, n_pending, &mut x, &mut pass2_cols, true, out);
}

#[cfg(test)]
pub(crate) mod reference {
    //! A direct, unoptimised transcription of the reference's blur-and-decimate, used to check
    //! the streaming version above on random images.
    use super::{jarosz_window, sample_indices};

    fn box_1d(input: &[f32], output: &mut [f32], len: usize, stride: usize, window: usize) {
        let half = (window + 2) / 2;
        let (p1, p2, p3, p4) = (half - 1, window - half + 1, len - window, half - 1);
        let (mut li, mut ri, mut oi) = (0, 0, 0);
        let mut sum = 0f32;
        let mut cur = 0usize;
        for _ in 0..p1 {
            sum += input[ri];
            cur += 1;
            ri += stride;
        }
        for _ in 0..p2 {
            sum += input[ri];
            cur += 1;
            output[oi] = sum / cur as f32;
            ri += stride;
            oi += stride;
        }
        for _ in 0..p3 {
            sum += input[ri];
            sum -= input[li];
            output[oi] = sum / cur as f32;
            li += stride;
            ri += stride;
            oi += stride;
        }
        for _ in 0..p4 {
            sum -= input[li];
            cur -= 1;
            output[oi] = sum / cur as f32;
            li += stride;
            oi += stride;
        }
    }

    pub(crate) fn downscale_64(luma: &[f32], w: usize, h: usize) -> [[f32; 64]; 64] {
        let mut a = luma.to_vec();
        let mut b = vec![0f32; w * h];
        let (wr, wc) = (jarosz_window(w, 64), jarosz_window(h, 64));
        for _ in 0..2 {
            for i in 0..h {
                box_1d(&a[i * w..], &mut b[i * w..], w, 1, wr);
            }
            for j in 0..w {
                box_1d(&b[j..], &mut a[j..], h, w, wc);
            }
        }
        let mut out = [[0f32; 64]; 64];
        for (oi, &i) in sample_indices(h).iter().enumerate() {
            for (oj, &j) in sample_indices(w).iter().enumerate() {
                out[oi][oj] = a[i * w + j];
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // index loops mirror the maths being checked
mod tests {
    use super::*;
    use proptest::prelude::*;

    struct Slice<'a>(&'a [f32], usize, usize);
    impl LumaRows for Slice<'_> {
        fn width(&self) -> usize {
            self.1
        }
        fn height(&self) -> usize {
            self.2
        }
        fn fill_row(&mut self, y: usize, out: &mut [f32]) {
            out.copy_from_slice(&self.0[y * self.1..(y + 1) * self.1]);
        }
    }

    fn check(w: usize, h: usize, seed: u64) {
        let mut state = seed | 1;
        let luma: Vec<f32> = (0..w * h)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 256) as f32 * 0.997
            })
            .collect();
        let expected = reference::downscale_64(&luma, w, h);
        let mut got = [[0f32; 64]; 64];
        downscale_64(&mut Slice(&luma, w, h), &mut got);
        for i in 0..64 {
            for j in 0..64 {
                assert_eq!(
                    got[i][j].to_bits(),
                    expected[i][j].to_bits(),
                    "{w}x{h} at ({i},{j}): {} vs {}",
                    got[i][j],
                    expected[i][j]
                );
            }
        }
    }

    #[test]
    fn streaming_equals_reference_on_awkward_sizes() {
        for &(w, h) in &[
            (1, 1),
            (5, 5),
            (7, 300),
            (64, 64),
            (65, 63),
            (128, 129),
            (129, 128),
            (255, 257),
            (300, 7),
            (513, 385),
            (1000, 40),
        ] {
            check(w, h, (w * 7919 + h) as u64);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]
        #[test]
        fn streaming_equals_reference(w in 1usize..700, h in 1usize..700, seed in any::<u64>()) {
            check(w, h, seed);
        }
    }
}
