//! Any bytes as a columnar push (and as a push answer): decoding returns a
//! request or an error, never panics, never allocates beyond its budget;
//! what decodes encodes again and decodes to the same request.
#![no_main]

use doorstep_protocol::columns::{decode_push, decode_push_response, encode_push};
use doorstep_protocol::limits::MAX_REQUEST_BYTES;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = decode_push_response(bytes);
    let Ok(request) = decode_push(bytes, MAX_REQUEST_BYTES) else {
        return;
    };
    let again = encode_push(&request).expect("a decoded request encodes");
    let back = decode_push(&again, MAX_REQUEST_BYTES).expect("and decodes");
    assert_eq!(back, request);
});
