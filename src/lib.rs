//! The `sim` command's library side: the one place that names the protocols, so that the
//! binary and the workspace tests run scenarios the same way.

pub mod hunt;
pub mod progress;
pub mod protocols;
pub mod timeline;
