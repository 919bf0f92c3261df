mod bindings;
pub mod capabilities;
pub mod manifest;
pub mod runtime;
