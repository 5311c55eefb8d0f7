//! Errors a bank operation can end in. Each says what went wrong and what to do.

/// What went wrong in a bank operation.
#[derive(Debug, thiserror::Error)]
pub enum BankError {
    /// A bank name breaks the naming rule.
    #[error("invalid bank name {0:?}: use 1-64 characters from A-Z, 0-9 and _ (for example NCMEC_HASHES)")]
    InvalidBankName(String),
    /// No bank has that name.
    #[error(
        "no bank named {0:?}: `spoor bank list` shows the banks, `spoor bank create` makes one"
    )]
    NoSuchBank(String),
    /// A bank with that name exists already.
    #[error("a bank named {0:?} exists already: choose another name")]
    BankExists(String),
    /// No entry with that id in that bank.
    #[error("bank {bank:?} has no entry with id {id}")]
    NoSuchEntry {
        /// The bank.
        bank: String,
        /// The id asked for.
        id: i64,
    },
    /// No API key has that name.
    #[error("no API key named {0:?}: `spoor keys list` shows them")]
    NoSuchKey(String),
    /// No exchange of that name.
    #[error("no exchange named {0:?}: `spoor exchange list` shows them")]
    NoSuchExchange(String),

    /// An API key with that name exists already.
    #[error("an API key named {0:?} exists already: choose another name")]
    KeyExists(String),
    /// A request that cannot be carried out as given.
    #[error("{0}")]
    Invalid(String),
    /// No case has that id.
    #[error("no case with id {0}")]
    NoSuchCase(i64),

    /// No complaint has this id.
    #[error("no complaint with id {0}")]
    NoSuchComplaint(i64),
    /// No follow-up has this id.
    #[error("no follow-up with id {0}: the reports page lists the follow-ups to make")]
    NoSuchFollowUp(i64),
    /// No case of the submitter names this content reference.
    #[error("no case of yours names content_ref {0:?}: give the case_id, or the content_ref the case was submitted with")]
    NoSuchContent(String),
    /// The person may not do this (a complaint decided by someone who took part in the
    /// decision it is about).
    #[error("{0}")]
    NotAllowed(String),
    /// No report has this id.
    #[error("no report with id {0}")]
    NoSuchReport(i64),
    /// The request is valid but the object is not in a state that allows it (a case decided
    /// already, or held by someone else).
    #[error("{0}")]
    Conflict(String),
    /// The database was written by a newer Spoor.
    #[error("the database is at schema version {found}, newer than this spoor knows ({known}): upgrade spoor")]
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
    /// The SQLite store failed.
    #[error("SQLite store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// The underlying error.
        #[source]
        source: rusqlite::Error,
    },
    /// The PostgreSQL store failed.
    #[error("PostgreSQL store: {}", describe_pg(.0))]
    Postgres(#[from] postgres::Error),
    /// The PostgreSQL server cannot be reached now: it is stopped, restarting, or the network
    /// to it is down. Nothing was changed; the same call works again once the server is back.
    #[error("the PostgreSQL server {target} is unreachable: {detail}; check that it is running and reachable from this host and that the database URL is right (calls work again as soon as it is back)")]
    Unreachable {
        /// The database URL, without its password.
        target: String,
        /// What the last attempt to connect ran into.
        detail: String,
    },
    /// A connection to PostgreSQL cannot be set up as configured: the URL's TLS settings, its CA
    /// file, or a server without TLS.
    #[error("PostgreSQL store {target}: {problem}")]
    Connection {
        /// The database URL, without its password.
        target: String,
        /// What is wrong and what to do.
        problem: String,
    },
    /// A file or directory could not be used.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

fn describe_pg(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{}: {}", db.severity(), db.message());
            if let Some(d) = db.detail() {
                s.push_str(&format!(" ({d})"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                s.push_str(&format!(": {inner}"));
                source = inner.source();
            }
            if e.is_closed() || s.contains("connect") {
                s.push_str(" (is the server running and the --database-url right?)");
            }
            s
        }
    }
}

/// Result of a bank operation.
pub type Result<T, E = BankError> = std::result::Result<T, E>;
