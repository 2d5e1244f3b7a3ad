//! Images (issue 21, under way): what a registry's or a `docker save`'s
//! layers become on disk. Today the layer unpacker, the part that reads
//! untrusted input; the content-addressed store, `load`, `pull` and `run
//! IMAGE` that use it come next.
// Nothing calls it outside its tests until the store does.
#![cfg_attr(not(test), allow(dead_code))]

pub mod unpack;
