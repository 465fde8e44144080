//! placeholder
pub mod download;
pub mod imagenet;
