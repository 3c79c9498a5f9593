"""Python counterpart of examples/shared_memory_array.cpp: four worker
processes fill their part of a multiprocessing.Array of doubles and count
their work in a multiprocessing.Value."""
import multiprocessing as mp

WORKERS, PER_WORKER = 4, 5


def fill(w, squares, done):
    for i in range(w * PER_WORKER, (w + 1) * PER_WORKER):
        squares[i] = float(i) * i  # distinct elements: no lock needed
        with done.get_lock():  # += on a Value is a read and a write
            done.value += 1
    with squares.get_lock():  # Array(..., lock=True)
        squares[0] += 0  # a compound update would go here


def main():
    squares = mp.Array("d", WORKERS * PER_WORKER)
    done = mp.Value("i", 0)
    workers = [mp.Process(target=fill, args=(w, squares, done)) for w in range(WORKERS)]
    for p in workers:
        p.start()
    for p in workers:
        p.join()
    print(f"items done: {done.value}, sum of squares 0..19: {sum(squares):.0f}")


if __name__ == "__main__":
    main()
