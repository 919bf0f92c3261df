mod bindings;
pub mod capabilities;
pub mod manifest;
