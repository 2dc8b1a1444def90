//! `tasklog verify --db postgres://...`: the local files against the
//! local host's rows.
