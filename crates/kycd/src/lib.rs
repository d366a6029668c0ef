//! Nothing to link: the product is the `kycd` binary (src/main.rs). This empty library
//! exists so that the package's tests can depend on the package itself with the
//! `testing` feature (a dev-dependency can only name a package with a library), which
//! builds the binary they run with its test hooks; a release build has none.
