"""Unit tests of the training recipes' settings and helpers (no training): GRPO's loss settings,
verl's reward hook with keyword arguments, the parquet converter's round trip, the reward curve
and the TRL reward function's handling of judge failures. Run with the recipes' Python:

  $(bash scripts/python-env.sh) -m unittest discover -s python/tests -v
"""

import asyncio
import http.server
import json
import os
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import grpo  # noqa: E402
import to_verl_parquet  # noqa: E402
import ugst_reward  # noqa: E402


class StubRewardServer:
    """A stand-in for `ugst serve reward`: the reward of an item is its response's length / 10,
    except responses containing "FAIL", which the judge never scores (reward null)."""

    def __init__(self):
        self.requests = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.requests.append(body)
                results = []
                for it in body["items"]:
                    if "FAIL" in it["response"]:
                        results.append({"id": it["id"], "reward": None, "error": "judge: broken JSON"})
                    else:
                        results.append({"id": it["id"], "reward": len(it["response"]) / 10})
                data = json.dumps({"results": results}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_port}"

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


CTX = json.dumps({"goal": "You want to return a lamp."})


class GrpoSettings(unittest.TestCase):
    def config(self, *flags, world=1):
        with tempfile.TemporaryDirectory() as d:
            a = grpo.parse_args(["--data", "x", "--model", "m", "--out", d, *flags])
            return grpo.grpo_config(a, world=world, cuda=False)

    def test_defaults_are_grpo_not_trl_defaults(self):
        c = self.config()
        self.assertEqual(c.loss_type, "grpo")
        self.assertEqual(c.beta, 0.04)
        self.assertEqual(c.epsilon, 0.2)
        self.assertEqual(c.num_iterations, 1)
        self.assertEqual(c.scale_rewards, "group")
        self.assertFalse(c.mask_truncated_completions)
        self.assertEqual(c.learning_rate, 5e-6)
        self.assertEqual(c.num_generations, 8)
        self.assertEqual(c.max_steps, 350)

    def test_a_step_is_16_prompts_times_8_rollouts_in_micro_batches(self):
        c = self.config()
        self.assertEqual(c.per_device_train_batch_size, 8)
        self.assertEqual(c.gradient_accumulation_steps, 16)
        self.assertEqual(c.per_device_train_batch_size * c.gradient_accumulation_steps, 16 * 8)
        c2 = self.config(world=2)
        self.assertEqual(c2.per_device_train_batch_size * c2.gradient_accumulation_steps * 2, 128)

    def test_flags_reach_the_config(self):
        c = self.config("--beta", "0", "--loss-type", "dr_grpo", "--mask-truncated", "--per-device-batch", "4")
        self.assertEqual((c.beta, c.loss_type, c.mask_truncated_completions), (0.0, "dr_grpo", True))
        self.assertEqual(c.gradient_accumulation_steps, 32)

    def test_a_micro_batch_that_does_not_divide_the_step_is_refused(self):
        with self.assertRaises(SystemExit) as e:
            self.config("--per-device-batch", "3")
        self.assertIn("must divide", str(e.exception))


class WithRewardServer(unittest.TestCase):
    """A test case with a `StubRewardServer` of its own for each test."""

    def setUp(self):
        self.server = StubRewardServer()

    def tearDown(self):
        self.server.close()


class VerlHook(WithRewardServer):
    def test_compute_score_takes_verls_keywords(self):
        # verl calls with keywords only, adds its own extra_info fields and the reward_kwargs.
        r = ugst_reward.compute_score(
            data_source="ugst", solution_str="x" * 15, ground_truth=CTX,
            extra_info={"index": 0, "num_turns": 2}, reward_url=self.server.url, some_future_kwarg=1,
        )
        self.assertEqual(r, 1.5)
        self.assertEqual(self.server.requests[0]["items"][0]["context"], json.loads(CTX))

    def test_compute_score_never_turns_a_judge_failure_into_a_number(self):
        with self.assertRaises(ugst_reward.JudgeFailed):
            ugst_reward.compute_score("ugst", "FAIL", CTX, reward_url=self.server.url)
        self.assertEqual(len(self.server.requests), 2, "one retry")


class Parquet(unittest.TestCase):
    def test_round_trip(self):
        import pyarrow.parquet as pq

        lines = [
            {"sample_id": "g1#0@2", "prompt": [{"role": "system", "content": "You are a user."},
                                               {"role": "user", "content": "Hi, how can I help?"}],
             "ugst_context": CTX},
            {"sample_id": "g2#0@4", "prompt": [{"role": "user", "content": "Anything else?"}],
             "ugst_context": {"goal": "as an object"}},
        ]
        with tempfile.TemporaryDirectory() as d:
            src, out = os.path.join(d, "grpo.jsonl"), os.path.join(d, "train.parquet")
            with open(src, "w") as f:
                for l in lines:
                    f.write(json.dumps(l) + "\n")
            self.assertEqual(to_verl_parquet.convert(src, out), 2)
            rows = pq.read_table(out).to_pylist()
        self.assertEqual([r["data_source"] for r in rows], ["ugst", "ugst"])
        self.assertEqual(rows[0]["prompt"], lines[0]["prompt"])
        self.assertEqual(rows[0]["reward_model"], {"style": "rule", "ground_truth": CTX})
        self.assertEqual(json.loads(rows[1]["reward_model"]["ground_truth"]), {"goal": "as an object"})
        self.assertEqual(rows[1]["extra_info"], {"index": 1, "sample_id": "g2#0@4", "split": "train"})

    def test_a_bad_line_is_named(self):
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "grpo.jsonl")
            with open(src, "w") as f:
                f.write(json.dumps({"sample_id": "a", "prompt": [], "ugst_context": CTX}) + "\n{oops\n")
            with self.assertRaises(SystemExit) as e:
                to_verl_parquet.convert(src, os.path.join(d, "o.parquet"))
            self.assertIn("grpo.jsonl:2", str(e.exception))


class Curve(WithRewardServer):
    def test_trl_reward_excludes_and_counts_judge_failures(self):
        class State:
            global_step = 4

        curve = ugst_reward.RewardCurve(max_failed_share=0.5)
        metrics = {}
        fn = ugst_reward.trl_reward(self.server.url, curve=curve)
        got = asyncio.run(fn(prompts=["p"] * 4, completions=["aaaa", "FAIL", "aa", "aaaaaa"],
                             ugst_context=[CTX] * 4, trainer_state=State(),
                             log_metric=lambda k, v: metrics.__setitem__(k, v)))
        self.assertEqual(got, [0.4, None, 0.2, 0.6])
        self.assertEqual(metrics["ugst/judge_failures"], 1.0)
        (p,) = curve.points()
        self.assertEqual((p["step"], p["scored"], p["judge_failures"]), (5, 3, 1))
        self.assertAlmostEqual(p["mean"], 0.4)
        self.assertAlmostEqual(p["std"], (((0.0) ** 2 + 0.2 ** 2 + 0.2 ** 2) / 3) ** 0.5)

    def test_too_many_failures_stop_training(self):
        curve = ugst_reward.RewardCurve(max_failed_share=0.25)
        fn = ugst_reward.trl_reward(self.server.url, curve=curve)
        with self.assertRaises(ugst_reward.JudgeFailed) as e:
            asyncio.run(fn(prompts=["p"] * 2, completions=["FAIL", "aa"], ugst_context=[CTX] * 2))
        self.assertIn("1 of 2", str(e.exception))

    def test_without_a_curve_any_failure_stops(self):
        fn = ugst_reward.trl_reward(self.server.url)
        with self.assertRaises(ugst_reward.JudgeFailed):
            asyncio.run(fn(prompts=["p"] * 4, completions=["FAIL", "a", "b", "c"], ugst_context=[CTX] * 4))

    def test_curve_is_written_and_drawn(self):
        curve = ugst_reward.RewardCurve()
        curve.add(1, [0.5, 1.0, None, 1.5], [("2", "judge")])
        curve.add(2, [1.0, 2.0], [])
        with tempfile.TemporaryDirectory() as d:
            path, png = curve.write(d)
            pts = json.load(open(path))["points"]
            with open(png, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertEqual([(p["step"], p["scored"], p["judge_failures"], p["mean"]) for p in pts],
                         [(1, 3, 1, 1.0), (2, 2, 0, 1.5)])


if __name__ == "__main__":
    unittest.main()
