//! NCMEC answers: any bytes read as an answer or an error, never a panic; what reads is
//! consistent (a numeric report id, at most one of success / already finished / permanent).
#![no_main]
use libfuzzer_sys::fuzz_target;
use spoor_report::ncmec::parse_response;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = parse_response(data) {
        if let Some(id) = &r.report_id {
            id.parse::<i64>().expect("a report id is a number");
        }
        let states = [r.is_success(), r.already_finished(), r.is_permanent()];
        assert!(states.iter().filter(|s| **s).count() <= 1);
        assert!(r.file_ids.iter().all(|id| !id.is_empty()));
    }
});
