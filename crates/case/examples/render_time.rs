//! Times the rendition of image files: `cargo run --profile ci -p spoor-case --example
//! render_time -- FILE...`. Prints the decode time alone (as `render_image` decodes: EXIF
//! orientation read, not applied), then the whole rendition at each view, best of 5; writes
//! nothing.

use std::time::Instant;

use spoor_case::rendition::{render_image, BlurLevel, View};

fn main() {
    let options = spoor_media::Options::default();
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("readable file");
        let best = |f: &dyn Fn()| {
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed().as_secs_f64() * 1e3
                })
                .fold(f64::INFINITY, f64::min)
        };
        let decoded = spoor_media::decode(&bytes, &options).expect("decodable image");
        let decode = best(&|| drop(spoor_media::decode(&bytes, &options).unwrap()));
        println!("{path}: {}x{}, decode {decode:.1} ms", decoded.width, decoded.height);
        for (name, view) in [
            ("default (grey, blur 4, 320)", View::default()),
            ("grey, no blur, 320", View { blur: BlurLevel::NONE, ..View::default() }),
            ("colour, blur 4, 320", View { colour: true, ..View::default() }),
            ("colour, blur 4, 1024", View { colour: true, max_side: 1024, ..View::default() }),
        ] {
            let r = render_image(&bytes, &view, &options).unwrap();
            let ms = best(&|| drop(render_image(&bytes, &view, &options).unwrap()));
            println!(
                "  {name}: {}x{}, {} PNG bytes, {ms:.1} ms ({:.1} ms after decoding)",
                r.width,
                r.height,
                r.png.len(),
                ms - decode
            );
        }
    }
}
