use ractor_cluster::RactorClusterMessage;

/// Implements neither serde nor `BytesConvertable`.
struct Handle(std::sync::Arc<()>);

#[derive(RactorClusterMessage)]
enum WorkerMessage {
    Adopt(String, Handle),
}

fn main() {}
