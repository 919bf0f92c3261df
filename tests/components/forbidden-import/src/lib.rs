//! Opens a TCP socket, so it imports `wasi:sockets`, which the platform
//! world does not offer: the host must refuse to load it.

use agent_store_sdk::{Error, Event, Incoming, Result};

async fn handle(_event: Incoming) -> Result<Vec<Event>> {
    std::net::TcpStream::connect("127.0.0.1:5672").map_err(Error::failed)?;
    Ok(Vec::new())
}

agent_store_sdk::export!(id: "forbidden-import", events: handle);
