// tools/collapse_command.hpp — `lacoot collapse`: Algorithm 1 on trained weights, with the
// paper's baselines beside it, and everything a user needs to choose the collapsed model.
//
// Holds: collapse_command(args), for tools/lacoot.cpp to call.
// Needs: method/algorithm1.hpp (the loop and the rankings), graph/profile.hpp (MACs, parameters,
// CPL), io/svg_plot.hpp, io/json.hpp, tools/weights.hpp, tools/profile_command.hpp (split_commas).
// Leaves out: training (lacoot train) and the rankings themselves (method/ranking.hpp).
//
// The command line (DESIGN.md's contract, extended):
//   lacoot collapse --model M --weights W.safetensors --dataset D --out DIR [--delta P]
//       [--method maxswd|sliced|zscore|cosine|block-influence|random|order[,...]] [--order a,b]
//       [--random-seeds K] [--seed S] [--heal-epochs E] [--latency 0|1]
//       [--latency-budget MS [--latency-batch 1|128]] [--threads T] [--val-size N]
// The first method is the run whose model is chosen, saved and healed; every further method
// (and every further seed of random: seeds S, S+1, ..., S+K-1) is run on a fresh copy of the
// weights for comparison, the paper's Figure 4. DIR receives
//   trajectory.csv / .json   the first run, one row per step: blocks removed, validation and
//                            test top-1, MACs, parameters, CPL, latency at batch 1 and 128
//   trajectories.csv / .json every run (method, seed, the same columns), and for each method
//                            the mean and standard deviation over its seeds at each step
//   blocks.csv               each removable block of the dense model: MACs and parameters it
//                            holds, latency saved by removing it alone (batch 1 and 128), its
//                            validation MaxSWD_2, SW_2 and cosine block influence
//   model.safetensors        the chosen model (lacoot run re-collapses it from its metadata)
//   accuracy_vs_cpl.svg      test top-1 against critical path length for every method, random
//                            as the mean with ± one standard deviation (Figure 4)
//   accuracy_vs_macs.svg, accuracy_vs_blocks_removed.svg   the first run
//   block_distances.svg      each block's validation distances as bars
// A step where MACs fall but the measured batch-128 latency does not (by 2 % or more) is
// flagged in the table and in the JSON ("latency_flat"). --latency-budget stops Algorithm 1 at
// the first model whose latency at --latency-batch images is within MS milliseconds.
#pragma once

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "data_loaders/splits.hpp"
#include "lacoot/graph/profile.hpp"
#include "lacoot/io/json.hpp"
#include "lacoot/io/safetensors.hpp"
#include "lacoot/io/svg_plot.hpp"
#include "lacoot/method/algorithm1.hpp"
#include "lacoot/optim/lr_scheduler.hpp"
#include "lacoot/optim/sgd.hpp"
#include "lacoot/train/args.hpp"
#include "lacoot/train/epoch.hpp"
#include "lacoot/train/recipe.hpp"
#include "profile_command.hpp"
#include "weights.hpp"

namespace lacoot::detail {

// Milliseconds of one eval-mode forward pass at `batch` images (the best of `repeat` after one
// warm-up), as the paper reports inference time.
inline double latency_ms(nn::Module& model, const Shape& chw, int64_t batch, int repeat) {
  NoGradGuard no_grad;
  model.eval();
  const Device device = nn::device_of(model);
  Tensor x = randn({batch, chw[0], chw[1], chw[2]}).to(device);
  model(x);
  double best = 1e30;
  for (int r = 0; r < repeat; ++r) {
    synchronize(device);  // on a GPU, time the work, not its queueing
    train::Stopwatch clock;
    model(x);
    synchronize(device);
    best = std::min(best, clock.seconds() * 1e3);
  }
  return best;
}

// A number for a CSV cell: integers (MACs, parameters) exactly, others to 10 digits.
inline std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// One run of Algorithm 1: its ranking, its seed and its trajectory.
struct CollapseRun {
  method::Ranking ranking;
  uint64_t seed;
  method::CollapseResult result;
};

// The runs of one ranking (its seeds), in order.
inline std::vector<const CollapseRun*> runs_of(const std::vector<CollapseRun>& runs, method::Ranking r) {
  std::vector<const CollapseRun*> same;
  for (const CollapseRun& run : runs)
    if (run.ranking == r) same.push_back(&run);
  return same;
}

// The metric `key` that Algorithm1Options::measure gave step s (NaN if none).
inline double metric(const method::CollapseStep& s, const std::string& key) {
  for (auto& [k, v] : s.metrics)
    if (k == key) return v;
  return std::nan("");
}

// Step i (> 0) removed MACs but the batch-128 latency fell by less than 2 %.
inline bool latency_flat(const std::vector<method::CollapseStep>& t, std::size_t i) {
  if (i == 0) return false;
  const double before = metric(t[i - 1], "latency_ms_batch128"), after = metric(t[i], "latency_ms_batch128");
  return metric(t[i], "macs") < metric(t[i - 1], "macs") && after > 0.98 * before;
}

// The CSV header and rows of `runs`; with `labelled` each row starts with the method and seed.
inline std::string trajectory_csv(const std::vector<const CollapseRun*>& runs, bool labelled) {
  std::string csv = labelled ? "method,seed,step,removed,val_top1,test_top1" : "step,removed,val_top1,test_top1";
  for (auto& [k, v] : runs.front()->result.trajectory[0].metrics) csv.append(",").append(k);
  csv += "\n";
  for (const CollapseRun* run : runs)
    for (std::size_t i = 0; i < run->result.trajectory.size(); ++i) {
      const method::CollapseStep& s = run->result.trajectory[i];
      if (labelled) csv.append(method::ranking_name(run->ranking)).append(",").append(std::to_string(run->seed)).append(",");
      csv.append(std::to_string(i)).append(",").append(join(s.removed, ";")).append(",").append(num(s.val_top1));
      csv.append(",").append(num(s.test_top1));
      for (auto& [k, v] : s.metrics) csv.append(",").append(num(v));  // (not "," + num(v): GCC 12's -Wrestrict misfires)
      csv += "\n";
    }
  return csv;
}

// What a step's per-block scores are called in the JSON.
inline const char* scores_key(method::Ranking r) {
  if (r == method::Ranking::BlockInfluence) return "trial_val_top1";
  if (r == method::Ranking::MaxSWD || r == method::Ranking::Sliced) return "distances";
  return "scores";
}

inline Json trajectory_json(const CollapseRun& run) {
  Json steps = Json::array();
  const auto& t = run.result.trajectory;
  for (std::size_t i = 0; i < t.size(); ++i) {
    Json removed = Json::array(), scores = Json::object();
    for (const std::string& b : t[i].removed) removed.push_back(b);
    for (auto& [k, v] : t[i].distances) scores[k] = v;
    Json row = Json::object({{"step", static_cast<int64_t>(i)}, {"removed", removed}, {"val_top1", t[i].val_top1},
                             {"test_top1", t[i].test_top1}, {scores_key(run.ranking), scores}});
    for (auto& [k, v] : t[i].metrics) row[k] = v;
    if (latency_flat(t, i)) row["latency_flat"] = true;
    steps.push_back(row);
  }
  return Json::object({{"method", method::ranking_name(run.ranking)}, {"seed", static_cast<int64_t>(run.seed)},
                       {"chosen", static_cast<int64_t>(run.result.chosen)}, {"steps", steps}});
}

// Mean and (population) standard deviation of test top-1 and CPL at each step over the runs
// of one method; a run that stopped early counts at the steps it reached.
struct StepStats {
  std::size_t runs = 0;
  double test_mean = 0, test_std = 0, val_mean = 0, cpl_mean = 0, macs_mean = 0;
};
inline std::vector<StepStats> step_stats(const std::vector<const CollapseRun*>& runs) {
  std::vector<StepStats> out;
  for (const CollapseRun* r : runs) {
    const auto& t = r->result.trajectory;
    if (out.size() < t.size()) out.resize(t.size());
    for (std::size_t i = 0; i < t.size(); ++i) {
      StepStats& s = out[i];
      ++s.runs;
      s.test_mean += t[i].test_top1, s.val_mean += t[i].val_top1;
      s.cpl_mean += metric(t[i], "cpl"), s.macs_mean += metric(t[i], "macs");
      s.test_std += t[i].test_top1 * t[i].test_top1;  // Σ x² for now
    }
  }
  for (StepStats& s : out) {
    const double n = static_cast<double>(s.runs);
    s.test_mean /= n, s.val_mean /= n, s.cpl_mean /= n, s.macs_mean /= n;
    s.test_std = std::sqrt(std::max(0.0, s.test_std / n - s.test_mean * s.test_mean));
  }
  return out;
}

// The dense model's removable blocks: what each holds and costs, and every ranking's score.
struct BlockRow {
  std::string path;
  int64_t macs = 0, params = 0;
  double latency_saved_b1 = 0, latency_saved_b128 = 0, maxswd = 0, sliced = 0, cosine = 0;
};

template <class Loader>
std::vector<BlockRow> block_table(nn::Module& model, Loader& val, const Shape& chw, bool timing, uint64_t seed) {
  const graph::Profile dense = graph::profile(model, chw);
  const auto maxswd = method::block_scores(model, val, method::Ranking::MaxSWD, 50, seed);
  const auto sliced = method::block_scores(model, val, method::Ranking::Sliced, 50, seed);
  const auto cosine = method::block_scores(model, val, method::Ranking::Cosine);
  const double b1 = timing ? latency_ms(model, chw, 1, 5) : 0, b128 = timing ? latency_ms(model, chw, 128, 2) : 0;
  std::vector<BlockRow> rows;
  for (std::size_t k = 0; k < maxswd.size(); ++k) {
    BlockRow r{.path = maxswd[k].first, .maxswd = maxswd[k].second, .sliced = sliced[k].second, .cosine = cosine[k].second};
    const graph::Profile without = graph::profile(model, chw, {r.path});
    r.macs = dense.macs - without.macs, r.params = dense.params - without.params;
    if (timing) {
      nn::ModulePtr original = method::swap_block(model, r.path, std::make_shared<nn::Identity>());
      r.latency_saved_b1 = b1 - latency_ms(model, chw, 1, 5);
      r.latency_saved_b128 = b128 - latency_ms(model, chw, 128, 2);
      method::swap_block(model, r.path, original);
    }
    rows.push_back(r);
  }
  return rows;
}

// Fine-tunes the chosen model for `epochs` (the paper's supplementary Table 8) and returns its
// validation and test top-1.
inline Json heal(nn::Module& model, const std::string& model_name, const std::string& dataset_spec, data::Splits& data,
                 data::DataLoader& val, data::DataLoader& test, int64_t epochs, uint64_t seed, int workers) {
  data::DataLoader train_loader(data.train, {.batch_size = 128, .shuffle = true, .seed = seed, .num_workers = workers,
                                             .transform = data.train_transform});
  const train::Recipe rec = train::recipe_for(model_name, dataset_spec);
  optim::SGD sgd(model.named_parameters(), {.lr = rec.lr * 0.1, .momentum = 0.9, .weight_decay = rec.weight_decay});
  optim::CosineAnnealingLR cosine(sgd, epochs * train_loader.size());
  for (int64_t e = 0; e < epochs; ++e) {
    train_loader.set_epoch(e);
    train::train_epoch(model, sgd, train_loader,
                       {.per_step_scheduler = &cosine, .label = "heal " + std::to_string(e + 1) + "/" + std::to_string(epochs)});
  }
  const double v = train::evaluate(model, val).top1, t = train::evaluate(model, test).top1;
  std::printf("healed for %lld epochs: val top-1 %.2f%%, test top-1 %.2f%%\n", static_cast<long long>(epochs), v, t);
  return Json::object({{"epochs", epochs}, {"val_top1", v}, {"test_top1", t}});
}

inline void write_plots(const std::filesystem::path& out, const std::string& title, const std::vector<CollapseRun>& runs,
                        const std::vector<BlockRow>& blocks) {
  const auto& first = runs.front().result.trajectory;
  PlotSeries val_macs{"validation", {}}, test_macs{"test", {}}, val_depth{"validation", {}}, test_depth{"test", {}};
  for (std::size_t i = 0; i < first.size(); ++i) {
    val_macs.points.emplace_back(metric(first[i], "macs") / 1e6, first[i].val_top1);
    test_macs.points.emplace_back(metric(first[i], "macs") / 1e6, first[i].test_top1);
    val_depth.points.emplace_back(static_cast<double>(i), first[i].val_top1);
    test_depth.points.emplace_back(static_cast<double>(i), first[i].test_top1);
  }
  const std::string first_title = title + " (" + method::ranking_name(runs.front().ranking) + ")";
  save_svg_line_plot((out / "accuracy_vs_macs.svg").string(),
                     {.title = first_title, .x_label = "MACs (M)", .y_label = "top-1 (%)", .series = {val_macs, test_macs}});
  save_svg_line_plot((out / "accuracy_vs_blocks_removed.svg").string(),
                     {.title = first_title, .x_label = "blocks removed", .y_label = "top-1 (%)", .series = {val_depth, test_depth}});

  // Figure 4: test top-1 against CPL, one series per method (the mean over its seeds).
  LinePlot fig4{.title = title + ": test top-1 against critical path length", .x_label = "critical path length (layers)",
                .y_label = "test top-1 (%)"};
  for (const CollapseRun& run : runs) {
    if (&run != runs_of(runs, run.ranking).front()) continue;  // one series per method
    const std::vector<const CollapseRun*> same = runs_of(runs, run.ranking);
    PlotSeries s{method::ranking_name(run.ranking) + (same.size() > 1 ? " (" + std::to_string(same.size()) + " seeds)" : std::string()), {}};
    for (const StepStats& st : step_stats(same)) {
      s.points.emplace_back(st.cpl_mean, st.test_mean);
      if (same.size() > 1) s.errors.push_back(st.test_std);
    }
    fig4.series.push_back(s);
  }
  save_svg_line_plot((out / "accuracy_vs_cpl.svg").string(), fig4);

  BarPlot bars{.title = title + ": each block's distance on validation data", .x_label = "block", .y_label = "distance"};
  BarSeries maxswd{"MaxSWD_2", {}}, sliced{"SW_2", {}};
  for (const BlockRow& b : blocks) {
    bars.categories.push_back(b.path);
    maxswd.values.push_back(b.maxswd);
    sliced.values.push_back(b.sliced);
  }
  bars.series = {maxswd, sliced};
  save_svg_bar_plot((out / "block_distances.svg").string(), bars);
}

inline int collapse_command(const train::Args& a) {
  const std::string model_name = a.str("model"), dataset_spec = a.str("dataset");
  const std::filesystem::path out = a.str("out");
  if (a.has("threads")) set_num_threads(static_cast<int>(a.integer("threads", 2)));
  const uint64_t seed = static_cast<uint64_t>(a.integer("seed", 0));
  const double delta = a.number("delta", 1.0);
  const bool timing = a.integer("latency", 1) != 0;

  std::vector<method::Ranking> methods;
  for (const std::string& m : split_commas(a.str("method", a.has("order") ? "order" : "maxswd"), "method")) {
    try {
      methods.push_back(method::parse_ranking(m));
    } catch (const Error& e) {
      throw train::UsageError(std::string("--method: ") + e.what());
    }
    if (std::count(methods.begin(), methods.end(), methods.back()) > 1)
      throw train::UsageError("--method names " + m + " twice");
  }
  std::vector<std::string> order;
  if (a.has("order")) order = split_commas(a.str("order"), "order");
  const bool user_order = std::find(methods.begin(), methods.end(), method::Ranking::UserOrder) != methods.end();
  if (user_order && order.empty())
    throw train::UsageError("--method order needs --order a,b,... (the blocks to remove, first first)");
  if (!user_order && !order.empty()) throw train::UsageError("--order is only used by --method order");
  const int64_t random_seeds = a.integer("random-seeds", 1);
  if (random_seeds < 1) throw train::UsageError("--random-seeds must be at least 1");
  const int64_t budget_batch = a.integer("latency-batch", 128);
  if (budget_batch != 1 && budget_batch != 128) throw train::UsageError("--latency-batch must be 1 or 128");
  const bool budgeted = a.has("latency-budget");
  const double budget = a.number("latency-budget", 0);
  if (budgeted && (!timing || budget <= 0))
    throw train::UsageError("--latency-budget needs a positive number of milliseconds and --latency 1");

  check_classifier(model_name, "collapse");
  prepare_output_folder(out, "--out");
  manual_seed(seed);
  data::Splits data = data::load_splits(dataset_spec, seed, a.integer("val-size", 0));
  const int workers = static_cast<int>(a.integer("workers", 1));
  data::DataLoader val_loader(data.val, {.batch_size = 128, .num_workers = workers, .transform = data.eval_transform});
  data::DataLoader test_loader(data.test, {.batch_size = 256, .num_workers = workers, .transform = data.eval_transform});
  const Shape chw{data.channels, data.height, data.width};
  auto fresh = [&] { return load_model(model_name, a.str("weights"), a); };

  // The dense model's blocks.
  nn::ModulePtr model = fresh();
  const std::vector<BlockRow> blocks = block_table(*model, val_loader, chw, timing, 0);
  std::printf("lacoot collapse: %s on %s, delta %.2f points, %zu removable blocks\n\n%-24s %10s %10s %9s %9s %9s",
              model_name.c_str(), dataset_spec.c_str(), delta, blocks.size(), "block", "MACs (M)", "params", "MaxSWD_2",
              "SW_2", "cosine BI");
  std::printf(timing ? " %10s %10s\n" : "\n", "ms saved@1", "@128");
  std::string blocks_csv = "block,macs,params,latency_saved_ms_batch1,latency_saved_ms_batch128,val_maxswd,val_sliced,val_cosine_bi\n";
  for (const BlockRow& b : blocks) {
    std::printf("%-24s %10.2f %10lld %9.4f %9.4f %9.4f", b.path.c_str(), static_cast<double>(b.macs) / 1e6,
                static_cast<long long>(b.params), b.maxswd, b.sliced, b.cosine);
    if (timing) std::printf(" %10.3f %10.2f", b.latency_saved_b1, b.latency_saved_b128);
    std::printf("\n");
    blocks_csv.append(b.path).append(",").append(std::to_string(b.macs)).append(",").append(std::to_string(b.params));
    for (double v : {b.latency_saved_b1, b.latency_saved_b128, b.maxswd, b.sliced, b.cosine}) blocks_csv.append(",").append(num(v));
    blocks_csv += "\n";
  }
  write_file_atomic((out / "blocks.csv").string(), blocks_csv);

  // The runs: the first is the one chosen; the others (each on fresh weights) compare.
  const std::string budget_key = budget_batch == 1 ? "latency_ms_batch1" : "latency_ms_batch128";
  auto measure = [&](nn::Module& net) {
    const graph::Profile p = graph::profile(net, chw);
    std::vector<std::pair<std::string, double>> row{
        {"macs", static_cast<double>(p.macs)}, {"params", static_cast<double>(p.params)}, {"cpl", static_cast<double>(p.cpl)}};
    if (timing) {
      row.emplace_back("latency_ms_batch1", latency_ms(net, chw, 1, 5));
      row.emplace_back("latency_ms_batch128", latency_ms(net, chw, 128, 2));
    }
    return row;
  };
  std::vector<CollapseRun> runs;
  for (method::Ranking ranking : methods)
    for (int64_t s = 0; s < (ranking == method::Ranking::Random ? random_seeds : 1); ++s) {
      method::Algorithm1Options o{.delta = delta, .ranking = ranking, .seed = seed + static_cast<uint64_t>(s),
                                  .order = order, .measure = measure};
      const std::string label = std::string(method::ranking_name(ranking)) +
                                (ranking == method::Ranking::Random ? " seed " + std::to_string(o.seed) : "");
      o.on_step = [&](const method::CollapseStep& st) {
        std::printf("[%s] removed [%s]: val top-1 %.2f%%, test top-1 %.2f%%, %.2f M MACs\n", label.c_str(),
                    join(st.removed, ", ").c_str(), st.val_top1, st.test_top1, metric(st, "macs") / 1e6);
        std::fflush(stdout);
      };
      if (budgeted) o.stop = [&](const method::CollapseStep& st) { return metric(st, budget_key) <= budget; };
      nn::ModulePtr net = runs.empty() ? model : fresh();  // `model` ends as the first run's choice
      runs.push_back({ranking, o.seed, method::algorithm1(*net, val_loader, test_loader, o)});
    }
  const CollapseRun& first = runs.front();
  const std::vector<method::CollapseStep>& t = first.result.trajectory;

  Json healed;
  const int64_t heal_epochs = a.integer("heal-epochs", 0);
  if (heal_epochs > 0) healed = heal(*model, model_name, dataset_spec, data, val_loader, test_loader, heal_epochs, seed, workers);

  // The files.
  write_file_atomic((out / "trajectory.csv").string(), trajectory_csv({&first}, false));
  Json doc = trajectory_json(first);
  doc["model"] = model_name, doc["dataset"] = dataset_spec, doc["delta"] = delta;
  if (budgeted) doc["latency_budget_ms"] = budget, doc["latency_budget_met"] = first.result.stopped;
  if (heal_epochs > 0) doc["healed"] = healed;
  write_file_atomic((out / "trajectory.json").string(), doc.dump(2) + "\n");
  std::vector<const CollapseRun*> all;
  for (const CollapseRun& r : runs) all.push_back(&r);
  write_file_atomic((out / "trajectories.csv").string(), trajectory_csv(all, true));
  Json every = Json::array(), summary = Json::object();
  for (const CollapseRun& r : runs) every.push_back(trajectory_json(r));
  for (method::Ranking m : methods) {
    const std::vector<const CollapseRun*> same = runs_of(runs, m);
    Json steps = Json::array();
    for (const StepStats& st : step_stats(same))
      steps.push_back(Json::object({{"runs", static_cast<int64_t>(st.runs)}, {"cpl", st.cpl_mean}, {"macs", st.macs_mean},
                                    {"val_top1", st.val_mean}, {"test_top1_mean", st.test_mean}, {"test_top1_std", st.test_std}}));
    summary[method::ranking_name(m)] = steps;
  }
  write_file_atomic((out / "trajectories.json").string(),
                    Json::object({{"model", model_name}, {"dataset", dataset_spec}, {"runs", every}, {"mean_over_seeds", summary}}).dump(2) + "\n");
  const std::vector<std::string>& kept = t[first.result.chosen].removed;
  save_safetensors((out / "model.safetensors").string(), model->state_dict(),
                   {{"model", model_name}, {"dataset", dataset_spec}, {"removed_blocks", join(kept, ",")}});
  write_plots(out, model_name + " on " + dataset_spec, runs, blocks);

  // The tables: the first run in full, then every method's test top-1 by step.
  std::printf("\n%s:\n%-5s %-40s %9s %9s %10s %5s", method::ranking_name(first.ranking), "step", "removed", "val top1",
              "test top1", "MACs (M)", "CPL");
  if (timing) std::printf(" %10s %10s", "ms@1", "ms@128");
  std::printf("\n");
  for (std::size_t i = 0; i < t.size(); ++i) {
    std::printf("%-5zu %-40s %8.2f%% %8.2f%% %10.2f %5.0f", i, t[i].removed.empty() ? "-" : join(t[i].removed, ",").c_str(),
                t[i].val_top1, t[i].test_top1, metric(t[i], "macs") / 1e6, metric(t[i], "cpl"));
    if (timing) std::printf(" %10.3f %10.2f", metric(t[i], "latency_ms_batch1"), metric(t[i], "latency_ms_batch128"));
    std::printf("%s%s\n", i == first.result.chosen ? "  <- chosen" : "", latency_flat(t, i) ? "  (MACs fell, latency did not)" : "");
  }
  if (methods.size() > 1 || runs.size() > 1) {
    std::printf("\ntest top-1 by blocks removed (random: mean ± std over %lld seeds)\n%-16s", static_cast<long long>(random_seeds), "method");
    for (std::size_t i = 0; i < t.size(); ++i) std::printf(" %14zu", i);
    std::printf("\n");
    for (method::Ranking m : methods) {
      const std::vector<const CollapseRun*> same = runs_of(runs, m);
      std::printf("%-16s", method::ranking_name(m));
      for (const StepStats& st : step_stats(same))
        if (same.size() > 1) std::printf(" %7.2f ± %4.2f", st.test_mean, st.test_std);
        else std::printf(" %14.2f", st.test_mean);
      std::printf("\n");
    }
  }
  if (budgeted) {
    std::printf("latency budget %.3f ms at batch %lld: ", budget, static_cast<long long>(budget_batch));
    if (!first.result.stopped) std::printf("not met, even with every block removed\n");
    else if (first.result.chosen + 1 == t.size()) std::printf("met at step %zu\n", t.size() - 1);
    else std::printf("met only at step %zu, beyond delta: the chosen model does not meet it\n", t.size() - 1);
  }
  std::printf("chosen: step %zu (%zu blocks removed, within %.2f points of the dense validation top-1); wrote %s\n",
              first.result.chosen, kept.size(), delta, out.string().c_str());
  return 0;
}

}  // namespace lacoot::detail
