//! One module per command: each reads its arguments, calls the library and prints.

pub mod ab;
pub mod agree;
pub mod bench;
pub mod decompose;
pub mod demo;
pub mod eval;
pub mod export;
pub mod goals;
pub mod import;
pub mod replay;
pub mod report;
pub mod run;
pub mod schemas;
pub mod serve;
pub mod setup;
pub mod track;
