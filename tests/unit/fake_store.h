// An in-memory Store (store/store.h) for tests, in the manner of leveldb's
// memenv: the same contract, no disk (pauses and the audit log too). `refuse_writes` makes every
// write fail as a locked database does, for the engine's write-behind journal.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "store/store.h"

namespace jenky {

class FakeStore final : public Store {
 public:
  Status InsertRuns(const std::vector<Run>& runs) override;
  Status UpdateRun(const Run& run) override;
  Status SaveRun(const Run& run) override;
  Result<std::optional<Run>> GetRun(int64_t id) override;
  Result<std::vector<Run>> ListRuns(const std::string& project, int limit, int64_t before) override;
  Result<std::optional<Run>> LastRun(const std::string& project) override;
  Result<std::vector<Run>> UnfinishedRuns() override;
  Result<int64_t> MaxRunId() override;
  Result<std::vector<int64_t>> RunsToPrune(const std::string& project, int keep) override;
  Status MarkPruned(int64_t id) override;
  Result<std::optional<Run>> FindRunByDelivery(const std::string& project,
                                               const std::string& delivery) override;
  Status SaveDeliveries(const std::vector<Delivery>& deliveries) override;
  Result<int64_t> MaxDeliveryId() override;
  Result<std::vector<Delivery>> ListDeliveries(const std::string& project, int limit) override;
  Status SaveRunAndMessages(const Run& run, const std::vector<OutboxMessage>& messages) override;
  Status UpdateMessage(const OutboxMessage& m) override;
  Result<std::vector<OutboxMessage>> PendingMessages() override;
  Result<std::vector<OutboxMessage>> ListMessages(const std::string& project, int64_t run_id,
                                                  int limit) override;
  Result<int64_t> MaxMessageId() override;
  Result<int64_t> PruneMessages(int64_t finished_before) override;
  Status SavePause(const ProjectPause& pause) override;
  Status DeletePause(const std::string& project) override;
  Result<std::vector<ProjectPause>> ListPauses() override;
  Status AppendAudit(const AuditEntry& e) override;
  Result<std::vector<AuditEntry>> ListAudit(int limit, int64_t before_id,
                                            const std::string& project) override;
  Status PruneAudit(int64_t older_than) override;

  std::map<int64_t, Run> runs;
  std::map<int64_t, OutboxMessage> messages;
  std::map<int64_t, Delivery> deliveries;
  std::map<std::string, ProjectPause> pauses;
  std::vector<AuditEntry> audit;  // oldest first
  bool refuse_writes = false;
  int writes = 0;  // successful run writes

 private:
  Status Refused() const { return Status::Error("database is locked (fake)"); }
};

}  // namespace jenky
