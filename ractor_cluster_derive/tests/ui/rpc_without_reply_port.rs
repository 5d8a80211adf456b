use ractor_cluster::RactorClusterMessage;

#[derive(RactorClusterMessage)]
enum CounterMessage {
    #[rpc]
    Get(String),
}

fn main() {}
