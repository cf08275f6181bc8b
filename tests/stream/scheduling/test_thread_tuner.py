"""The worker's thread count follows the load, from its own timings (simulated costs here)."""

from livefx.models.stage import MOTION_STAGE, STYLE_STAGE
from livefx.stream.scheduling.core_share import CoreShares
from livefx.stream.scheduling.idle_cores import IdleCores
from livefx.stream.scheduling.thread_tuner import CpuThreads, ThreadTuner


def run(tuner: ThreadTuner, cost_of: dict[int, float], frames: int) -> list[int]:
    """Feed ``frames`` frames whose cost depends on the thread count in use; the counts used."""
    used = []
    for _ in range(frames):
        used.append(tuner.current)
        tuner.observe(cost_of[tuner.current])
    return used


def test_idle_machine_keeps_all_cores_and_tries_less_and_less_often():
    tuner = ThreadTuner((1, 2), explore_every=20)
    used = run(tuner, {1: 1.8, 2: 1.0}, 400)
    assert tuner.current == 2 and not tuner.switches
    trials = [i for i in range(1, len(used)) if used[i] == 1 and used[i - 1] == 2]
    assert 3 <= len(trials) <= 5  # back-off: 20, 40, 80, 160 frames apart
    assert used.count(1) <= 3 * len(trials)


def test_load_arriving_moves_to_fewer_threads_within_a_few_frames():
    tuner = ThreadTuner((1, 2), explore_every=100)
    run(tuner, {1: 1.8, 2: 1.0}, 30)
    used = run(tuner, {1: 2.0, 2: 20.0}, 60)  # a busy process: two threads collapse
    assert tuner.current == 1
    assert used.index(1) <= 3  # the surge is seen over three frames
    assert used[10:].count(2) <= 1  # a later trial of two threads costs one frame, then backs off


def test_a_machine_busy_from_the_start_moves_to_fewer_threads_within_ten_frames():
    tuner = ThreadTuner((1, 2))  # the defaults, as the worker makes it
    used = run(tuner, {1: 2.0, 2: 40.0}, 30)
    assert tuner.current == 1 and used.index(1) < 10 and used[10:].count(2) == 0


def test_load_leaving_returns_to_all_cores():
    tuner = ThreadTuner((1, 2), explore_every=50)
    run(tuner, {1: 1.8, 2: 1.0}, 10)
    run(tuner, {1: 2.0, 2: 20.0}, 100)
    assert tuner.current == 1
    run(tuner, {1: 1.8, 2: 1.0}, 2000)
    assert tuner.current == 2


def test_a_single_level_never_explores():
    tuner = ThreadTuner((1,))
    assert set(run(tuner, {1: 1.0}, 500)) == {1} and not tuner.trying


class Recorder:
    def __init__(self) -> None:
        self.threads: list[int] = []

    def set_threads(self, count: int) -> None:
        self.threads.append(count)


def test_cpu_threads_apply_the_tuned_count_to_openmp_and_models_once_per_change():
    openmp: list[int] = []
    shares = CoreShares(2, openmp.append)
    shares.join()
    threads = CpuThreads(shares, ThreadTuner((1, 2), explore_every=5))
    model = Recorder()
    for _ in range(12):
        threads.before_frame([model, None])
        threads.after_frame({STYLE_STAGE: 10.0 if threads.applied == 2 else 40.0}, 100, 1.0)
    assert model.threads[0] == 2 and openmp[0] == 2
    assert 1 in model.threads and model.threads[-1] == 2  # tried one thread, came back
    assert all(a != b for a, b in zip(model.threads, model.threads[1:]))  # only on changes


def test_cpu_threads_learn_per_pixel_and_never_from_frames_without_models():
    shares = CoreShares(2)
    tuner = ThreadTuner((1, 2))
    threads = CpuThreads(shares, tuner)
    threads.before_frame([])
    threads.after_frame({"io": 3.0}, 100, 1.0)
    assert tuner._recent == type(tuner._recent)()  # noqa: SLF001 - nothing learned
    threads.after_frame({STYLE_STAGE: 10.0}, 400, 0.5)
    threads.after_frame({MOTION_STAGE: 8.0}, 400, 1.0)
    assert list(tuner._recent) == [0.1, 0.02]  # noqa: SLF001


def test_a_fixed_thread_count_is_applied_and_never_tuned():
    from livefx.stream.sinks.null import NullSink
    from livefx.stream.sources.synthetic import SyntheticSource

    from ..helpers import SlowInvert, pipeline

    p = pipeline(SyntheticSource(64, 48, fps=200), [NullSink()], SlowInvert(0), max_frames=30, threads=1)
    p.open()
    p.run(log_every_s=0)
    threads = p.worker.cpu_threads
    assert threads.tuner.levels == (1,) and threads.applied == 1 and not threads.tuner.switches


LIGHT, FULL = (("stylize", 1),), (("stylize", 2),)


def test_the_planners_probes_of_a_dearer_form_start_no_trial():
    """Light-student frames with, every 60 frames, a two-frame probe of the full student (3x
    the cost per pixel): one thread is the cheaper count here. Read as load, each probe looked
    like a surge and sent the worker to two threads for a trial; now the trials keep to the
    back-off schedule (5, 120, 240 frames)."""
    shares = CoreShares(2)
    shares.join()
    threads = CpuThreads(shares, ThreadTuner((1, 2)))
    used = []
    for frame in range(600):
        count = threads.before_frame([])
        used.append(count)
        probe = frame % 60 in (58, 59)
        per_pixel = {1: 1.0, 2: 1.4}[count] * (3.0 if probe else 1.0)
        threads.after_frame({STYLE_STAGE: per_pixel * 100}, 100, 1.0, FULL if probe else LIGHT, probe)
    trials = [i for i in range(1, len(used)) if used[i] == 2 and used[i - 1] == 1]
    assert threads.tuner.current == 1 and len(trials) <= 3


def test_a_change_of_form_starts_the_window_again_without_a_trial():
    shares = CoreShares(2)
    shares.join()
    tuner = ThreadTuner((1, 2), explore_every=1000)
    threads = CpuThreads(shares, tuner)
    for _ in range(40):  # past the first trial: one thread held
        threads.before_frame([])
        threads.after_frame({STYLE_STAGE: {1: 100.0, 2: 140.0}[threads.applied]}, 100, 1.0, LIGHT)
    assert tuner.current == 1 and not tuner.trying
    for _ in range(10):  # the planner moved up to the full student: 3x per pixel, same load
        threads.before_frame([])
        threads.after_frame({STYLE_STAGE: {1: 300.0, 2: 420.0}[threads.applied]}, 100, 1.0, FULL)
        assert not tuner.trying
    assert list(tuner._recent) == [3.0] * 9  # noqa: SLF001 - the window, all of the new form


def test_more_threads_are_tried_only_where_a_core_sat_idle():
    # The page on two cores: a second thread only waits for a core (1.3 against 1.0 a frame).
    full = {1: 1.0, 2: 1.3}
    blind = ThreadTuner((1, 2), explore_every=20)
    assert run(blind, full, 2000)[20:].count(2) >= 12  # its trials of two threads, backing off
    idle = {"cores": 0.1}  # the browser and the codecs keep both cores busy
    tuner = ThreadTuner((1, 2), explore_every=20, idle_cores=lambda: idle["cores"])
    used = run(tuner, full, 2000)
    assert tuner.current == 1 and used[20:].count(2) == 0 and tuner.passed_over >= 5
    idle["cores"] = 1.0  # the browser closed: a core free again, and two threads pay
    run(tuner, {1: 1.8, 2: 1.0}, 2000)
    assert tuner.current == 2


def test_an_unknown_idle_reading_leaves_the_trials_as_they_were():
    tuner = ThreadTuner((1, 2), explore_every=50, idle_cores=lambda: None)
    run(tuner, {1: 2.0, 2: 20.0}, 100)
    run(tuner, {1: 1.8, 2: 1.0}, 2000)
    assert tuner.current == 2 and tuner.passed_over == 0


def test_idle_cores_read_from_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    reader = IdleCores(stat, cores=2)
    stat.write_text("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 ...\n")
    assert reader.since_last() is None  # a first reading has nothing to compare with
    stat.write_text("cpu  250 0 100 850 0 0 0 0 0 0\n")  # 200 ticks: 50 idle, a quarter of two cores
    assert reader.since_last() == 0.5
    stat.unlink()
    assert reader.since_last() is None  # unreadable (not Linux): unknown


def test_a_worker_starts_at_the_fewest_threads_and_asks_the_machine_before_more():
    threads = CpuThreads(CoreShares(2))
    threads.before_frame([])
    tuner = threads.tuner
    assert tuner.levels == (1, 2) and tuner.current == 1 and threads.applied == 1
    assert tuner._idle_cores is not None  # noqa: SLF001 - an IdleCores reading, not the blind default


def test_on_an_idle_many_core_machine_the_first_trial_goes_straight_to_the_most_threads():
    tuner = ThreadTuner((1, 2, 4, 8), start=1, idle_cores=lambda: 7.5)
    used = run(tuner, {1: 8.0, 2: 4.0, 4: 2.0, 8: 1.0}, 30)
    assert tuner.current == 8 and used.index(8) <= 6
    crowded = ThreadTuner((1, 2, 4, 8), start=1, idle_cores=lambda: 1.2)  # room for two more
    run(crowded, {1: 8.0, 2: 4.0, 4: 2.0, 8: 1.0}, 30)
    assert crowded.current == 2
