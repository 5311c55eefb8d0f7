//! Import parsing: any bytes, in every format, never panic; every entry the reader yields is
//! valid for its signal type; signal text forms round-trip through their canonical bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use spoor_bank::import::{Format, Item, Reader};
use spoor_core::{SignalType, ALL_SIGNAL_TYPES};

fuzz_target!(|data: &[u8]| {
    for format in [None, Some(Format::Lines), Some(Format::Csv), Some(Format::Jsonl), Some(Format::HmaCsv)] {
        let Ok(mut reader) = Reader::new(data, format, SignalType::Pdq) else { continue };
        let mut last = 0;
        while let Ok(Some(item)) = reader.next_item() {
            match item {
                Item::Entry(line, e) => {
                    assert!(line > last);
                    last = line;
                    e.validate().expect("a yielded entry is valid");
                    let text = e.signal_type.format(&e.value);
                    assert_eq!(e.signal_type.parse(&text).unwrap(), e.value);
                }
                Item::Rejected(line, _) => {
                    assert!(line > last);
                    last = line;
                }
            }
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        for t in ALL_SIGNAL_TYPES {
            if let Ok(bytes) = t.parse(s) {
                t.check_bytes(&bytes).expect("parsed bytes are valid");
                assert_eq!(t.parse(&t.format(&bytes)).unwrap(), bytes);
            }
        }
    }
});
