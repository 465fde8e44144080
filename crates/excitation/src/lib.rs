//! placeholder
pub mod data;
pub mod experiment_error;
pub mod small_nets;
pub mod train;
pub mod stability;
