mod bindings;
pub mod capabilities;
