use ractor_cluster::RactorMessage;

#[derive(RactorMessage)]
struct Borrowed<'a, T> {
    items: &'a [T],
}

fn main() {}
