//! The OpenAPI 3 document, generated from the handlers' annotations and the wire types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail};
use crate::routes;
use crate::wire::*;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Spoor",
        description = "Match media against banks of known abuse material by hash. Only hashes are kept; uploads are hashed in memory and dropped. Every route but /health, /ready, /metrics and /openapi.json needs `Authorization: Bearer <API key>`; what a key may do depends on its role (admin, curator, matcher, hasher). The key is checked before any request body is read. A matcher key can never read a list: its match answers carry no distances unless the key was made with `--show-distance`, and a key whose queries walk in small steps around earlier ones (probing for a banked hash) is stopped (429).",
    ),
    paths(
        routes::health,
        routes::ready,
        routes::metrics,
        routes::openapi,
        routes::create_bank,
        routes::list_banks,
        routes::get_bank,
        routes::patch_bank,
        routes::add_entries,
        routes::list_entries,
        routes::patch_entry,
        routes::match_get,
        routes::match_post,
        routes::match_upload,
        routes::hash,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, Health, Ready, ReadyStatus, BankCreate, BankPatch, BankOut, BankList, BankDetail, EntryIn,
        EntriesIn, EntryResult, EntriesAdded, EntryOut, EntriesPage, EntryPatch, SignalIn,
        MatchRequest, MatchOut, MatchResponse, MatchBatchResponse, Hashes, UploadResponse,
        UploadForm, SignalTypeName, MatchSignalType, CategoryName, SeverityName, Tag,
    )),
    modifiers(&Security),
    tags(
        (name = "service", description = "Health, readiness, metrics, this document"),
        (name = "banks", description = "Hash banks (curators and admins)"),
        (name = "entries", description = "Bank entries (curators and admins)"),
        (name = "match", description = "Matching signals and uploads"),
        (name = "hash", description = "Hashing only"),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("spoor_<key id>_<secret>")
                    .build(),
            ),
        );
    }
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
