use ractor_cluster::RactorClusterMessage;

#[derive(RactorClusterMessage)]
enum CounterMessage {
    #[rpc]
    Reset,
}

fn main() {}
