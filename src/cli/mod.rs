//! The commands of the `authportal` binary (not of the library): one module per command family.

pub mod backup;
