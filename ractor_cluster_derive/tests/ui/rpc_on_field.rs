use ractor::RpcReplyPort;
use ractor_cluster::RactorClusterMessage;

#[derive(RactorClusterMessage)]
enum CounterMessage {
    Get {
        key: String,
        #[rpc]
        reply: RpcReplyPort<u64>,
    },
}

fn main() {}
