//! The JSON Schemas published in `schemas/`, one per document type other programs exchange with
//! callbridge.

use schemars::{JsonSchema, Schema, schema_for};

use crate::{Call, Cdr, MediaAnswer, MediaOffer, PlatformCommand, PlatformEvent, Presence};

/// Every published schema: the file stem in `schemas/` and the schema.
pub fn published() -> Vec<(&'static str, Schema)> {
    vec![
        named::<Call>("call"),
        named::<Cdr>("cdr"),
        named::<Presence>("presence"),
        named::<PlatformEvent>("platform-event"),
        named::<PlatformCommand>("platform-command"),
        named::<MediaOffer>("media-offer"),
        named::<MediaAnswer>("media-answer"),
    ]
}

fn named<T: JsonSchema>(stem: &'static str) -> (&'static str, Schema) {
    (stem, schema_for!(T))
}
